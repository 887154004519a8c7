import { env } from 'cloudflare:workers';
import type { Update } from 'grammy/types';
import { describe, expect, it } from 'vitest';
import { getConfig } from '../core/config';
import { botInfo } from '../core/telegram';
import { trackedUser } from './users.tracking';

const me = botInfo(getConfig(env));
const from = { id: 7, is_bot: false, first_name: 'Ann', last_name: 'Lee', username: 'ann', language_code: 'de' };
const message = (chat: object, sender: object = from) =>
  ({ update_id: 1, message: { message_id: 1, date: 0, chat, from: sender, text: 'hi' } }) as unknown as Update;

describe('who an update tracks', () => {
  it('the sender of a private message', () => {
    expect(trackedUser(message({ id: 7, type: 'private', first_name: 'Ann' }), me)).toEqual({
      telegramId: 7,
      username: 'ann',
      fullName: 'Ann Lee',
      languageCode: 'de',
      active: true,
    });
  });

  it('nobody in groups, nobody who is a bot, nobody on updates without a sender', () => {
    expect(trackedUser(message({ id: -100, type: 'supergroup', title: 'G' }), me)).toBeUndefined();
    expect(trackedUser(message({ id: 8, type: 'private', first_name: 'B' }, { id: 8, is_bot: true, first_name: 'B' }), me)).toBeUndefined();
    expect(trackedUser({ update_id: 2, poll: { id: 'p' } } as unknown as Update, me)).toBeUndefined();
  });

  it('a user without username or language code', () => {
    const bare = { id: 9, is_bot: false, first_name: 'Bo' };
    expect(trackedUser(message({ id: 9, type: 'private', first_name: 'Bo' }, bare), me)).toMatchObject({
      username: null,
      languageCode: null,
      fullName: 'Bo',
    });
  });
});

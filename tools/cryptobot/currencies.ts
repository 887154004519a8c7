/**
 * The currencies the Crypto Pay API knows and a frozen market: static prices, so amounts and rates in tests
 * are predictable. Codes are the ones help.crypt.bot/crypto-pay-api lists for mainnet (JET is testnet-only).
 */

export const ASSETS = ['USDT', 'TON', 'BTC', 'ETH', 'LTC', 'BNB', 'TRX', 'USDC'] as const;
export type Asset = (typeof ASSETS)[number];

const FIATS = [
  'USD',
  'EUR',
  'RUB',
  'BYN',
  'UAH',
  'GBP',
  'CNY',
  'KZT',
  'UZS',
  'GEL',
  'TRY',
  'AMD',
  'THB',
  'INR',
  'BRL',
  'IDR',
  'AZN',
  'AED',
  'PLN',
  'ILS',
] as const;
export type Fiat = (typeof FIATS)[number];

interface AssetInfo {
  name: string;
  /** USD price of one unit. */
  usd: number;
  decimals: number;
  stablecoin: boolean;
  /** A coin of its own chain, as opposed to a token on another chain. */
  blockchain: boolean;
  url: string;
}

const ASSET_INFO: Record<Asset, AssetInfo> = {
  USDT: { name: 'Tether', usd: 1, decimals: 6, stablecoin: true, blockchain: false, url: 'https://tether.to/' },
  TON: { name: 'Toncoin', usd: 5.5, decimals: 9, stablecoin: false, blockchain: true, url: 'https://ton.org/' },
  BTC: { name: 'Bitcoin', usd: 65_000, decimals: 8, stablecoin: false, blockchain: true, url: 'https://bitcoin.org/' },
  ETH: { name: 'Ethereum', usd: 3_200, decimals: 18, stablecoin: false, blockchain: true, url: 'https://ethereum.org/' },
  LTC: { name: 'Litecoin', usd: 80, decimals: 8, stablecoin: false, blockchain: true, url: 'https://litecoin.org/' },
  BNB: { name: 'Binance Coin', usd: 580, decimals: 18, stablecoin: false, blockchain: true, url: 'https://www.bnbchain.org/' },
  TRX: { name: 'TRON', usd: 0.12, decimals: 6, stablecoin: false, blockchain: true, url: 'https://tron.network/' },
  USDC: { name: 'USD Coin', usd: 1, decimals: 6, stablecoin: true, blockchain: false, url: 'https://www.circle.com/usdc' },
};

/** Units of each fiat currency per US dollar. */
const FIAT_PER_USD: Record<Fiat, number> = {
  USD: 1,
  EUR: 0.92,
  RUB: 90,
  BYN: 3.3,
  UAH: 41,
  GBP: 0.79,
  CNY: 7.2,
  KZT: 480,
  UZS: 12_700,
  GEL: 2.7,
  TRY: 34,
  AMD: 390,
  THB: 35,
  INR: 84,
  BRL: 5.6,
  IDR: 16_000,
  AZN: 1.7,
  AED: 3.67,
  PLN: 4,
  ILS: 3.7,
};

export function isAsset(code: string): code is Asset {
  return (ASSETS as readonly string[]).includes(code);
}

export function isFiat(code: string): code is Fiat {
  return (FIATS as readonly string[]).includes(code);
}

/** Price of one unit of `asset` in `fiat`. */
export function rate(asset: Asset, fiat: Fiat): number {
  return ASSET_INFO[asset].usd * FIAT_PER_USD[fiat];
}

/**
 * A decimal string with at most `decimals` (capped at 8, past which binary floats only add noise) fraction
 * digits and no trailing zeros: `formatAmount(1.5, 2)` is `'1.5'`.
 */
export function formatAmount(value: number, decimals = 8): string {
  const fixed = value.toFixed(Math.min(decimals, 8));
  return fixed.includes('.') ? fixed.replace(/\.?0+$/, '') : fixed;
}

export function assetDecimals(asset: Asset): number {
  return ASSET_INFO[asset].decimals;
}

/** The `getExchangeRates` result: every asset priced in every fiat currency. */
export function exchangeRates(): Array<Record<string, unknown>> {
  return ASSETS.flatMap((source) =>
    FIATS.map((target) => ({ is_valid: true, is_crypto: true, is_fiat: false, source, target, rate: formatAmount(rate(source, target)) })),
  );
}

/** The `getCurrencies` result. */
export function currencies(): Array<Record<string, unknown>> {
  const crypto = ASSETS.map((code) => {
    const a = ASSET_INFO[code];
    return {
      is_blockchain: a.blockchain,
      is_stablecoin: a.stablecoin,
      is_fiat: false,
      name: a.name,
      code,
      url: a.url,
      decimals: a.decimals,
    };
  });
  const fiat = FIATS.map((code) => ({ is_blockchain: false, is_stablecoin: false, is_fiat: true, name: code, code, decimals: 2 }));
  return [...crypto, ...fiat];
}

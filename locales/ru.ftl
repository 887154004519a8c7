start-greeting =
    Привет, { $name }! 👋
    Этот бот будет держать вас в курсе. Остановить его можно в любой момент, заблокировав бота.
ping-queued = Задача ping_db поставлена в очередь: { $id }.

## Рассылки в чате администратора
campaign-status-draft = 📝 Черновик
campaign-status-scheduled = 🗓 Запланирована на { $at }
campaign-status-running = 🚀 Идёт рассылка
campaign-status-paused = ⏸ На паузе
campaign-status-completed = ✅ Завершена
campaign-status-cancelled = ✖️ Отменена
campaign-audience = Аудитория: { $count } активных пользователей
campaign-variants = Варианты: { $languages }
campaign-variant-default = по умолчанию
campaign-rate = Скорость: { $rate }/с
campaign-rate-paid = Скорость: { $rate }/с, платная рассылка
campaign-counters = Отправлено { $sent } · ошибки { $failed } · заблокировали { $blocked } · неизвестно { $unknown } · в очереди { $pending } из { $total }
btn-add-language = 🌐 Добавить язык
btn-preview = 👁 Предпросмотр
btn-start = ▶️ Запустить
btn-pause = ⏸ Пауза
btn-resume = ▶️ Продолжить
btn-cancel = ✖️ Отменить
btn-back = ← Назад
campaign-pick-language = Для какого языка новый вариант?
campaign-ask-variant = Пришлите пост для <b>{ $language }</b>: он станет вариантом для этого языка.
campaign-not-found = Этой рассылки больше нет.
campaign-invalid = Этот пост нельзя разослать: { $reason }
campaign-album = Альбомы разослать нельзя: пришлите одно фото или видео с подписью (или текст со ссылкой).
campaign-preview-sent = Предпросмотр отправлен.

## Уведомления пользователям (HTML)
notify-payment-confirmed = ✅ <b>Оплата получена</b>: { $amount } { $asset }. Подписка ({ $plan }) действует до <b>{ $expires }</b>.
notify-payment-expired = ⌛ Счёт на { $amount } { $asset } истёк неоплаченным. Откройте бота, чтобы получить новый.
notify-expiry-reminder = ⏰ Подписка закончится через <b>{ $left }</b> ({ $expires }). Продлите её в боте, чтобы не потерять доступ.
notify-subscription-expired = 🔒 Подписка закончилась, доступ приостановлен. Продлите её в боте (/start → Продлить), чтобы подключиться снова.
notify-renewal-invoice = 🔁 Подписка заканчивается в течение часа. Оплатите { $amount } { $asset } для продления: { $url }
notify-traffic-reset = 🔄 Новый месяц: счётчик трафика обнулён ({ $month }).
bracket-7d = 7 дней
bracket-3d = 3 дня
bracket-24h = 24 часа
bracket-6h = 6 часов

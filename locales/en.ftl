start-greeting =
    Hello, { $name }! 👋
    This bot will keep you posted. You can stop it any time by blocking it.
ping-queued = Queued ping_db as run { $id }.

## Campaigns in the admin chat
campaign-status-draft = 📝 Draft
campaign-status-scheduled = 🗓 Scheduled for { $at }
campaign-status-running = 🚀 Sending
campaign-status-paused = ⏸ Paused
campaign-status-completed = ✅ Completed
campaign-status-cancelled = ✖️ Cancelled
campaign-audience = Audience: { $count } active users
campaign-variants = Variants: { $languages }
campaign-variant-default = default
campaign-rate = Rate: { $rate }/s
campaign-rate-paid = Rate: { $rate }/s, paid broadcast
campaign-counters = Sent { $sent } · failed { $failed } · blocked { $blocked } · unknown { $unknown } · pending { $pending } of { $total }
btn-add-language = 🌐 Add language
btn-preview = 👁 Preview
btn-start = ▶️ Start
btn-pause = ⏸ Pause
btn-resume = ▶️ Resume
btn-cancel = ✖️ Cancel
btn-back = ← Back
campaign-pick-language = Which language is the new variant for?
campaign-ask-variant = Send the post for <b>{ $language }</b>: it becomes that language's variant.
campaign-not-found = This campaign no longer exists.
campaign-invalid = This post can't be broadcast: { $reason }
campaign-album = Albums can't be broadcast: send one photo or video with its caption (or a text with a link).
campaign-preview-sent = Preview sent.

## Notifications to users (HTML)
notify-payment-confirmed = ✅ <b>Payment received</b>: { $amount } { $asset }. Your subscription ({ $plan }) now runs until <b>{ $expires }</b>.
notify-payment-expired = ⌛ Your invoice for { $amount } { $asset } expired unpaid. Open the bot to get a new one.
notify-expiry-reminder = ⏰ Your subscription ends in <b>{ $left }</b> ({ $expires }). Renew in the bot to stay connected.
notify-subscription-expired = 🔒 Your subscription has ended and access is paused. Renew in the bot (/start → Renew) to reconnect.
notify-renewal-invoice = 🔁 Your subscription ends within the hour. Pay { $amount } { $asset } to renew: { $url }
notify-traffic-reset = 🔄 A new month: your traffic counter was reset to zero ({ $month }).
bracket-7d = 7 days
bracket-3d = 3 days
bracket-24h = 24 hours
bracket-6h = 6 hours

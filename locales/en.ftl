start-greeting =
    Hello, { $name }! 👋
    This bot will keep you posted. You can stop it any time by blocking it.
ping-queued = Queued ping_db as run { $id }.

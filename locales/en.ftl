start-greeting =
    Hello, { $name }! 👋
    This bot will keep you posted. You can stop it any time by blocking it.

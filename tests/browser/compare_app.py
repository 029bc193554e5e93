"""The app with the gradient lab's router wired in front (until app/main.py includes it)."""

from app.api.routes import compare
from app.main import create_app

app = create_app()
_n = len(app.router.routes)
app.include_router(compare.router)
_added = app.router.routes[_n:]
del app.router.routes[_n:]
app.router.routes[0:0] = _added  # before pages.py's placeholder GET /compare

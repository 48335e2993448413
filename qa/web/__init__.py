"""What the web UI (ui.py) is made of, apart from its layout: the HTML (render), the checks of
what a page sends (checks), the event handlers (handlers), the server's guard and logins (guard)
and the styles (style.css). Nothing in qa imports these; ui.py does."""

from pathlib import Path

STYLE = Path(__file__).with_name("style.css")

"""HTTP front end: one aiohttp application (`rmail.web.app.create_app`) for every area."""

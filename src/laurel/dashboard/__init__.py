"""Server-rendered dashboard pages (Jinja2 + htmx, Chart.js vendored under ``static/vendor``).

Every page is a route in the one permission table (``laurel.auth.permissions``) like the API:
the services narrow department managers and learners exactly as they do for the API.
"""

"""A page of a test's own beside uxlab's static files, served by the browser's router (no server):
for testing one script or stylesheet in a real browser."""

from uxlab.settings import BASE_DIR

STATIC = BASE_DIR / "uxlab" / "static" / "uxlab"
ORIGIN = "http://uxlab.test"
CONTENT_TYPES = {".js": "text/javascript", ".css": "text/css"}


def open_static_page(browser, html, static_files, **page_options):
    """A new page showing `html` at ORIGIN/, which may load each of `static_files` (names in
    uxlab/static/uxlab) from ORIGIN/<name>; ready once the page sets `window.ready = true`."""
    page = browser.new_page(**page_options)
    files = {"/": (html, "text/html")} | {
        f"/{name}": ((STATIC / name).read_text(), CONTENT_TYPES[name[name.rindex(".") :]]) for name in static_files
    }

    def serve(route):
        body, content_type = files[route.request.url.removeprefix(ORIGIN)]
        route.fulfill(body=body, content_type=content_type)

    page.route(f"{ORIGIN}/**", serve)
    page.goto(f"{ORIGIN}/")
    page.wait_for_function("window.ready === true")
    return page

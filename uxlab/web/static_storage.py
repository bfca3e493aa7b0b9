"""Static files under hashed names, compressed, with ES module imports rewritten to the hashed names
too (Django leaves ``import ... from "./socket.js"`` alone unless told), so a page never mixes
versions of its scripts after a release."""

from whitenoise.storage import CompressedManifestStaticFilesStorage


class StaticFilesStorage(CompressedManifestStaticFilesStorage):
    support_js_module_import_aggregation = True

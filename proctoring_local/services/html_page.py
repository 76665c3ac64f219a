"""What every page the tools write shares: data embedded as JSON a browser cannot mistake for
markup, and a Content-Security-Policy that lets only the page's own script and style run.

Names in the pages (student ids, capture names, reasons) are chosen by students and clients: they
reach a page as text, set through the DOM or escaped, never as markup, and the policy forbids
inline handlers (``onerror=``, ``onmouseover=``) and any other script, should one slip through.
"""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

# Characters that end or confuse a script element's text, or a JavaScript string (U+2028/9).
_SCRIPT_ESCAPES = {ord("<"): "\\u003c", ord(">"): "\\u003e", ord("&"): "\\u0026", 0x2028: "\\u2028", 0x2029: "\\u2029"}


def script_json(value: Any) -> str:
    """``value`` as JSON to put inside ``<script type="application/json">``: no ``</script>``,
    ``<!--`` or ``]]>`` can appear in it, whatever the strings hold."""
    return json.dumps(value).translate(_SCRIPT_ESCAPES)


def _source_hash(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode("ascii") + "'"


def content_security_policy(*, scripts: tuple[str, ...] = (), styles: tuple[str, ...] = (), live: bool = False) -> str:
    """The policy of a page whose only script and style elements hold ``scripts`` and ``styles``
    (allowed by hash): nothing else runs, pictures only from data URIs (and the server when
    ``live``), no form, no frame, no plugin."""
    script = " ".join(_source_hash(text) for text in scripts) or "'none'"
    style = " ".join(_source_hash(text) for text in styles) or "'none'"
    images = "data: 'self'" if live else "data:"
    connect = "'self'" if live else "'none'"
    return (
        f"default-src 'none'; script-src {script}; style-src {style}; img-src {images}; "
        f"connect-src {connect}; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    )

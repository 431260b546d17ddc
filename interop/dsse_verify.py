#!/usr/bin/env python3
"""Verify a Countersign DSSE envelope with securesystemslib, not our code.

Usage: dsse_verify.py ENVELOPE_JSON PUBLIC_KEY_BASE64 KEYID
Exits 0 when the envelope carries a valid Ed25519 signature by the key under
KEYID, 1 otherwise.
"""

import base64
import json
import sys

from securesystemslib.dsse import Envelope
from securesystemslib.signer import SSlibKey


def main() -> int:
    if len(sys.argv) != 4:
        print(__doc__, file=sys.stderr)
        return 2
    path, pub_b64, keyid = sys.argv[1:]
    try:
        with open(path, encoding="utf-8") as f:
            envelope = Envelope.from_dict(json.load(f))
        raw = base64.b64decode(pub_b64, validate=True)
        key = SSlibKey(keyid, "ed25519", "ed25519", {"public": raw.hex()})
        envelope.verify([key], 1)
    except Exception as e:  # any failure is a verification failure
        print(f"dsse_verify: {type(e).__name__}: {e}", file=sys.stderr)
        return 1
    print(f"ok: {envelope.payload_type} signed by {keyid}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

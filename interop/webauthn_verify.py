#!/usr/bin/env python3
"""Verify a WebAuthn registration and an assertion with py_webauthn, not our code.

py_webauthn (PyPI `webauthn`, Duo Labs) 3.0.1 is the independent implementation:
`python3 -m pip install webauthn==3.0.1`.

Reads one JSON document on standard input:

    {
      "rp_id": "countersign.example",
      "origin": "https://countersign.example",
      "registration": { ...PublicKeyCredential.toJSON() of the registration... },
      "registration_challenge": "<base64url>",
      "assertion": { ...PublicKeyCredential.toJSON() of the assertion... },
      "assertion_challenge": "<base64url>",
      "require_user_verification": true
    }

It verifies the registration (verify_registration_response), then the
assertion (verify_authentication_response) with the credential public key and
sign count the registration produced and the given assertion challenge bytes.

For a passkey signature taken from Countersign's log, where the registration
itself is not kept, give instead of "registration" and
"registration_challenge" the enrolled key: "credential_public_key" (base64url
of its COSE_Key bytes) and "credential_id" (base64url); the assertion is then
verified with that key (sign count 0).
Attestation certificate chains are not checked against any root (py_webauthn
skips the chain when it is given no roots); signatures are.

Prints one JSON line, {"registration": "ok" | "<error>", "assertion": "ok" |
"<error>"} ("skipped" when the registration failed), and exits 0 only when
both verify, 1 when either does not, 2 when the input is not the document
above.
"""

import base64
import json
import sys

from webauthn import verify_authentication_response, verify_registration_response


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def describe(error: Exception) -> str:
    return f"{type(error).__name__}: {error}"


def main() -> int:
    try:
        doc = json.load(sys.stdin)
        rp_id = doc["rp_id"]
        origin = doc["origin"]
        registration = doc.get("registration")
        assertion = doc["assertion"]
        registration_challenge = (
            b64url_decode(doc["registration_challenge"]) if registration is not None else None
        )
        enrolled_key = (
            b64url_decode(doc["credential_public_key"]) if registration is None else None
        )
        enrolled_id = b64url_decode(doc["credential_id"]) if registration is None else None
        assertion_challenge = b64url_decode(doc["assertion_challenge"])
        require_uv = bool(doc.get("require_user_verification", False))
    except Exception as e:  # malformed input is a usage error, not a verdict
        print(f"webauthn_verify: bad input: {describe(e)}", file=sys.stderr)
        return 2

    result = {"registration": "skipped", "assertion": "skipped"}
    if registration is None:
        credential_id, public_key, sign_count = enrolled_id, enrolled_key, 0
        result["registration"] = "not given (enrolled key)"
    else:
        try:
            verified = verify_registration_response(
                credential=registration,
                expected_challenge=registration_challenge,
                expected_rp_id=rp_id,
                expected_origin=origin,
                require_user_verification=require_uv,
            )
            result["registration"] = "ok"
        except Exception as e:  # any failure is a verification failure
            result["registration"] = describe(e)
            print(json.dumps(result))
            return 1
        credential_id = verified.credential_id
        public_key = verified.credential_public_key
        sign_count = verified.sign_count

    try:
        if b64url_decode(assertion["rawId"]) != credential_id:
            raise ValueError("the assertion is for another credential than the registration")
        verify_authentication_response(
            credential=assertion,
            expected_challenge=assertion_challenge,
            expected_rp_id=rp_id,
            expected_origin=origin,
            credential_public_key=public_key,
            credential_current_sign_count=sign_count,
            require_user_verification=require_uv,
        )
        result["assertion"] = "ok"
    except Exception as e:  # any failure is a verification failure
        result["assertion"] = describe(e)

    print(json.dumps(result))
    return 0 if result["assertion"] == "ok" else 1


if __name__ == "__main__":
    sys.exit(main())

"""The user of a verified client certificate, from ssl's decoded subject: CN the user, each O
a group, as the API server's x509 authenticator names them."""

from __future__ import annotations

from typing import Any

import pytest

from nodecount_scaler.http.auth import AUTHENTICATED, User, certificate_user

CN, ORG, OU = "commonName", "organizationName", "organizationalUnitName"
ANY = (AUTHENTICATED,)


@pytest.mark.parametrize(
    ("peer", "expected"),
    [
        pytest.param({"subject": (((CN, "alice"),),)}, User("alice", groups=ANY), id="cn"),
        pytest.param(
            {"subject": (((ORG, "ops"),), ((ORG, "dev"),), ((CN, "bob"),))},
            User("bob", groups=("ops", "dev", AUTHENTICATED)),
            id="groups-in-order",
        ),
        pytest.param(
            {"subject": (((CN, "carol"), (OU, "x")),)}, User("carol", groups=ANY),
            id="multi-valued-rdn",
        ),
        pytest.param({"subject": (((CN, "a"),), ((CN, "b"),))}, User("a", groups=ANY),
                     id="first-cn-wins"),
        pytest.param({"subject": (((ORG, "ops"),),)}, None, id="no-cn"),
        pytest.param({"subject": (((CN, ""),),)}, None, id="empty-cn"),
        pytest.param({}, None, id="no-subject"),
        pytest.param({"subject": "CN=alice"}, None, id="malformed-subject"),
        pytest.param({"subject": ((("commonName",),),)}, None, id="malformed-pair"),
    ],
)  # fmt: skip
def test_certificate_user(peer: dict[str, Any], expected: User | None) -> None:
    """A table of decoded subjects and the user each names."""
    assert certificate_user(peer) == expected

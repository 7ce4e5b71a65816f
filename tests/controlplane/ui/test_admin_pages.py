"""The sign-in page (controlplane/ui/admin_pages.py): after sign-in it sends the browser back only to a page of
this site, never to another one."""

from __future__ import annotations

import httpx

from tests.support.control_plane import ControlPlane


def test_sign_in_sends_back_only_to_a_page_of_this_site(control_plane: ControlPlane) -> None:
    for asked, kept in (("/runs?status=FAILURE", "/runs?status=FAILURE"), ("//evil.example", "/"), ("/\\evil", "/")):
        page = httpx.get(f"{control_plane.url}/signin", params={"next": asked})
        assert f'data-next="{kept}"' in page.text.replace("&amp;", "&"), asked

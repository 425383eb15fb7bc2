"""tre: the researchers' command-line client of the Trusted Research Environment's portal.

It speaks the portal's JSON API (`/api/v1/`, see the portal's `/api/v1/docs`) with an API
token made in the portal, and uses the standard library only, so it installs anywhere.
"""

__version__ = "0.1.0"

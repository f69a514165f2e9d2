"""Production overrides: the public address, feeds with absolute links, publishing."""

import os
import sys

sys.path.append(os.curdir)
from pelicanconf import *  # noqa: E402,F403

SITEURL = os.environ.get("REPLIK_SITEURL", "https://dialogfeld.example")
FEED_DOMAIN = SITEURL
RELATIVE_URLS = False
DELETE_OUTPUT_DIRECTORY = True
# Run after every rebuild by the moderation desk, e.g. rsync or an S3 sync.
REPLIK_PUBLISH_HOOK = os.environ.get("REPLIK_PUBLISH_HOOK", "")

# Tell the blogs our posts link to (webmention, else pingback) after each publish build.
# What was sent is remembered in the state file (comments/state.sqlite3); nothing is sent twice.
PLUGINS = [*PLUGINS, "replik.linkbacks"]  # noqa: F405
REPLIK_LINKBACK_SEND_ON_BUILD = os.environ.get("REPLIK_SEND_LINKBACKS", "yes") != "no"

#!/bin/sh
# Install (if missing) what the real-browser tests need: Debian's Chromium and its
# chromedriver, and Noto CJK so that Chinese renders as glyphs, not boxes, in screenshots.
#
# Nothing downloads a browser of its own: Debian's packages are the browser.  Safe to run
# again: what is installed is left as it is.  Everything it says goes to stderr.
set -eu

say() { echo "browser: $*" >&2; }

missing=""
[ -x /usr/bin/chromium ] || missing="$missing chromium"
[ -x /usr/bin/chromedriver ] || missing="$missing chromium-driver"
[ -d /usr/share/fonts/opentype/noto ] || missing="$missing fonts-noto-cjk"
if [ -n "$missing" ]; then
    say "installing$missing"
    export DEBIAN_FRONTEND=noninteractive
    # The package lists may be missing or stale on a fresh machine; a failed update (one
    # mirror briefly unreachable) is retried once by the install below failing loudly.
    apt-get update -qq >&2 || say "apt-get update failed; trying the install anyway"
    apt-get install -y -qq --no-install-recommends $missing >&2
fi
say "$(/usr/bin/chromium --version 2>/dev/null || echo 'chromium: version unknown'), $(/usr/bin/chromedriver --version 2>/dev/null | cut -d' ' -f1-2)"

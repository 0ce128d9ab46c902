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
[ -f /usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc ] || missing="$missing fonts-noto-cjk"
if [ -n "$missing" ]; then
    say "installing$missing"
    export DEBIAN_FRONTEND=noninteractive
    log=$(mktemp)
    # The package lists may be missing or stale on a fresh machine.  dpkg's hundreds of
    # lines go to a log that is shown only when something fails.
    if ! { apt-get update -qq && apt-get install -y -qq --no-install-recommends $missing; } >"$log" 2>&1; then
        tail -n 40 "$log" >&2
        say "could not install$missing"
        exit 1
    fi
    rm -f "$log"
fi
say "$(/usr/bin/chromium --version 2>/dev/null || echo 'chromium: version unknown'), $(/usr/bin/chromedriver --version 2>/dev/null | cut -d' ' -f1-2)"

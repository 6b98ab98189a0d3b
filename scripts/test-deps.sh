#!/usr/bin/env bash
# System packages the tests use beyond Python: headless Chromium renders the HTML report
# (tests/test_report.py). Installed with apt when missing and possible; never fails the
# build: without it that one test skips with its reason.
if [ ! -x /usr/bin/chromium ] && command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    echo "installing chromium for the report render test (about a minute)"
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium) \
        >/tmp/lradvisor-apt.log 2>&1 || echo "chromium install failed: see /tmp/lradvisor-apt.log"
fi
exit 0

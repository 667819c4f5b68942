#!/bin/sh
# `make run`: serve examples/sluice.conf on 127.0.0.1:3128 with a demo user.
# The demo password is random, kept in examples/demo-password (git-ignored,
# mode 600) and passed to htpasswd on stdin, never on a command line.
set -eu
bin=${1:-build/sluice}
dir=examples
if [ ! -s "$dir/users.htpasswd" ] || [ ! -s "$dir/demo-password" ]; then
	umask 077
	pw=$(head -c 18 /dev/urandom | base64 | tr -d '/+=')
	printf '%s' "$pw" | htpasswd -ciB "$dir/users.htpasswd" agent >/dev/null 2>&1
	printf '%s\n' "$pw" > "$dir/demo-password"
fi
pw=$(cat "$dir/demo-password")
"$bin" check -c "$dir/sluice.conf"
echo
echo "demo user 'agent', password in $dir/demo-password. Try, from another terminal:"
echo "  curl -x http://agent:$pw@127.0.0.1:3128 https://api.anthropic.com/v1/models   # allowed"
echo "  curl -x http://agent:$pw@127.0.0.1:3128 https://www.google.com/               # 403"
echo "  curl http://127.0.0.1:9128/metrics; and http://127.0.0.1:9128/status in a browser"
echo
exec "$bin" serve -c "$dir/sluice.conf"

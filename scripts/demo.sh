#!/bin/sh
# `make demo`: the whole system offline, in one minute. A local origin plays
# api.anthropic.com; a sandboxed command reaches it through sluice run and is
# refused for www.google.com; the audit log shows both. No traffic leaves
# this machine: names are mapped to 127.0.0.1 and the sandbox has no route.
set -eu
bin=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
work=$(mktemp -d)
trap 'kill $origin 2>/dev/null; rm -rf "$work"' EXIT INT TERM

mkdir -p "$work/www/v1"
echo '{"models": ["a local stand-in for api.anthropic.com"]}' > "$work/www/v1/models"
port=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
/usr/bin/python3 -m http.server -b 127.0.0.1 -d "$work/www" "$port" >/dev/null 2>&1 &
origin=$!

cat > "$work/hosts" <<HOSTS
127.0.0.1 api.anthropic.com www.google.com
HOSTS
cat > "$work/policy.conf" <<CONF
# The seed's allowlist; the origin's port stands in for 443 / 80.
allow api.anthropic.com generativelanguage.googleapis.com api.replicate.com
hosts_file hosts
allow_cidr 127.0.0.0/8        # the demo origin lives on loopback
connect_ports 443 $port
http_ports 80 $port
CONF
sleep 0.5

echo "== sluice run -c policy.conf --log audit.log -- sh -c '...'"
echo "   (inside: only loopback, HTTP_PROXY/HTTPS_PROXY point at the embedded proxy)"
"$bin" run -c "$work/policy.conf" --log "$work/audit.log" -- sh -c "
echo '-- allowed, plain HTTP:'; curl -s http://api.anthropic.com:$port/v1/models
echo '-- allowed, through a CONNECT tunnel:'; curl -s -p http://api.anthropic.com:$port/v1/models
echo '-- refused by policy:'; curl -s http://www.google.com:$port/
echo '-- direct connection, bypassing the proxy:'
curl -s --noproxy '*' -m 2 http://127.0.0.1:$port/ || echo \"   failed as it must (curl exit \$?)\"
" || true
echo
echo "== the audit log (Squid format):"
cat "$work/audit.log"

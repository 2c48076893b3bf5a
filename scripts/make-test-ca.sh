#!/usr/bin/env bash
# Makes a throw-away certificate authority and certificates for trying TLS on one
# machine (tests use it too). Not for production: keys are unencrypted, valid for
# 30 days.
#
# Usage: scripts/make-test-ca.sh OUT_DIR [HOSTNAME...]
# Writes OUT_DIR/ca.pem (the CA: --tls_client_ca, --*tls_ca),
#        OUT_DIR/server.pem, server.key (--tls_cert, --tls_key; names: localhost,
#          127.0.0.1, ::1 and the HOSTNAMEs given),
#        OUT_DIR/client.pem, client.key (--*tls_cert, --*tls_key, for servers that
#          verify clients).
set -euo pipefail
if [ $# -lt 1 ] || [ "$1" = "-h" ] || [ "$1" = "--help" ]; then
  sed -n '2,11p' "$0"
  exit 2
fi
command -v openssl >/dev/null || { echo "make-test-ca: openssl not found (apt-get install openssl)" >&2; exit 1; }
out="$1"
shift
mkdir -p "$out"
cd "$out"
san="DNS:localhost,IP:127.0.0.1,IP:::1"
for host in "$@"; do san="$san,DNS:$host"; done

openssl req -x509 -newkey rsa:2048 -nodes -days 30 -subj "/CN=vmle-test-ca" \
  -keyout ca.key -out ca.pem 2>/dev/null

make_cert() {  # name, subject CN, extensions
  local name="$1" cn="$2" ext="$3"
  openssl req -newkey rsa:2048 -nodes -subj "/CN=$cn" -keyout "$name.key" -out "$name.csr" 2>/dev/null
  printf '%b' "$ext" > "$name.ext"
  openssl x509 -req -in "$name.csr" -CA ca.pem -CAkey ca.key -CAcreateserial -days 30 \
    -extfile "$name.ext" -out "$name.pem" 2>/dev/null
  rm -f "$name.csr" "$name.ext"
}
make_cert server localhost "subjectAltName=$san\nextendedKeyUsage=serverAuth\n"
make_cert client vmle-client "extendedKeyUsage=clientAuth\n"
rm -f ca.srl
chmod 600 ./*.key
echo "make-test-ca: wrote $(pwd)/{ca.pem,server.pem,server.key,client.pem,client.key}"

#!/usr/bin/env bash
# Generates a development CA, a server certificate for localhost and a client certificate
# with openssl. Output goes to the directory given (default: certs/out, which git ignores).
# Never commit the private keys this writes.
set -euo pipefail
out="${1:-$(dirname "$0")/out}"
mkdir -p "$out"
cd "$out"
days=825

openssl req -x509 -newkey rsa:2048 -nodes -days "$days" -subj "/CN=Midge Dev CA" \
  -keyout ca.key -out ca.crt 2>/dev/null

cat > server.ext <<EXT
subjectAltName = DNS:localhost, IP:127.0.0.1, IP:::1
extendedKeyUsage = serverAuth
EXT
openssl req -newkey rsa:2048 -nodes -subj "/CN=localhost" -keyout server.key -out server.csr 2>/dev/null
openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days "$days" \
  -extfile server.ext -out server.crt 2>/dev/null

client="${MIDGE_CLIENT_CN:-device-1}"
echo "extendedKeyUsage = clientAuth" > client.ext
openssl req -newkey rsa:2048 -nodes -subj "/CN=$client" -keyout client.key -out client.csr 2>/dev/null
openssl x509 -req -in client.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days "$days" \
  -extfile client.ext -out client.crt 2>/dev/null

rm -f ./*.csr ./*.ext ./*.srl
chmod 600 ./*.key
echo "wrote $(pwd): ca.crt, server.crt/server.key (localhost), client.crt/client.key (CN=$client)"

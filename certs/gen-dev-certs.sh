#!/usr/bin/env bash
# Generates a development CA, a server certificate for localhost and client certificates
# with openssl. Output goes to the directory given (default: certs/out, which git ignores).
# Never commit the private keys this writes.
#
#   MIDGE_CLIENT_CN="device-1 device-2"   client certificates to make (default device-1); the first
#                                         is also written as client.crt/client.key
#   An untrusted-client.crt/.key pair, signed by a throw-away CA that nothing trusts, is written too,
#   for checking that a listener refuses certificates from other CAs.
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

echo "extendedKeyUsage = clientAuth" > client.ext
# client NAME CA_PREFIX OUT_PREFIX: a client certificate with CN=NAME signed by CA_PREFIX.crt/.key
client() {
  openssl req -newkey rsa:2048 -nodes -subj "/CN=$1" -keyout "$3.key" -out "$3.csr" 2>/dev/null
  openssl x509 -req -in "$3.csr" -CA "$2.crt" -CAkey "$2.key" -CAcreateserial -days "$days" \
    -extfile client.ext -out "$3.crt" 2>/dev/null
}

read -r -a clients <<< "${MIDGE_CLIENT_CN:-device-1}"
first="${clients[0]}"
client "$first" ca client
for cn in "${clients[@]}"; do
  client "$cn" ca "client-$cn"
done

openssl req -x509 -newkey rsa:2048 -nodes -days "$days" -subj "/CN=Untrusted CA" \
  -keyout untrusted-ca.key -out untrusted-ca.crt 2>/dev/null
client "$first" untrusted-ca untrusted-client
rm -f untrusted-ca.key

rm -f ./*.csr ./*.ext ./*.srl
chmod 600 ./*.key
echo "wrote $(pwd): ca.crt, server.crt/server.key (localhost), client.crt/client.key (CN=$first), client-<CN>.crt/.key for: ${clients[*]}, untrusted-client.crt/.key"

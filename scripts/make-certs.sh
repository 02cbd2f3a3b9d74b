#!/bin/sh
# The certificates of the stack's TLS (docs/stack.md, "Add a machine"): a certificate authority of
# your own, and the main host's certificate for Redis and PostgreSQL, signed by it.
#
#   scripts/make-certs.sh main.example.com 192.0.2.10    # the names and addresses by which
#                                                         # worker hosts reach the main host
#   scripts/make-certs.sh main.example.com 192.0.2.10    # again: a new server key and
#                                                         # certificate from the same authority
#   scripts/make-certs.sh --new-ca main.example.com ...   # a new authority as well
#
# Writes, under certs/ (or --out DIR):
#   tls/ca.crt        the authority's certificate: public; every worker host needs a copy
#   tls/server.crt    the main host's certificate, for redis, postgres, localhost, 127.0.0.1,
#   tls/server.key    ::1 and each name or address given; its key, for the main host only
#   tls-ca/ca.key     the authority's key: it signs the next server certificate. No container
#                     ever mounts it; keep it off the machine once you are done, if you can.
# An existing authority is kept unless --new-ca; the server key and certificate are made new at
# every run. --days sets the server certificate's life (default 825); the authority's is ten
# years. Needs openssl 1.1.1 or later.
set -eu

usage() {
    sed -n '2,20s/^# \{0,1\}//p' "$0"
}

out=certs
days=825
new_ca=no
while [ $# -gt 0 ]; do
    case "$1" in
        --out) out=$2; shift 2 ;;
        --days) days=$2; shift 2 ;;
        --new-ca) new_ca=yes; shift ;;
        -h | --help) usage; exit 0 ;;
        -*) echo "error: unknown option $1 (see --help)" >&2; exit 2 ;;
        *) break ;;
    esac
done

# Worker hosts check the name or address they dial against this list.
names="DNS:redis,DNS:postgres,DNS:localhost,IP:127.0.0.1,IP:::1"
for name in "$@"; do
    case "$name" in
        *:*) names="$names,IP:$name" ;;                          # IPv6
        *[!0-9.]* | '') names="$names,DNS:$name" ;;               # a host name
        *) names="$names,IP:$name" ;;                            # IPv4
    esac
done

tls="$out/tls"
authority="$out/tls-ca"
umask 077
mkdir -p "$tls" "$authority"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

if [ "$new_ca" = yes ] || [ ! -f "$authority/ca.key" ] || [ ! -f "$tls/ca.crt" ]; then
    openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$work/ca.key" 2>/dev/null
    openssl req -x509 -new -key "$work/ca.key" -sha256 -days 3650 \
        -subj "/CN=mnistgrid stack authority $(date -u +%Y-%m-%d)" \
        -addext "basicConstraints=critical,CA:TRUE,pathlen:0" \
        -addext "keyUsage=critical,keyCertSign,cRLSign" \
        -addext "subjectKeyIdentifier=hash" \
        -out "$work/ca.crt"
    mv "$work/ca.key" "$authority/ca.key"
    mv "$work/ca.crt" "$tls/ca.crt"
    echo "made a new certificate authority: $tls/ca.crt (copy it to every worker host)"
fi

openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$work/server.key" 2>/dev/null
openssl req -new -key "$work/server.key" -subj "/CN=mnistgrid main host" -out "$work/server.csr"
cat > "$work/server.ext" <<EOF
basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature
extendedKeyUsage=serverAuth
subjectAltName=$names
subjectKeyIdentifier=hash
authorityKeyIdentifier=keyid,issuer
EOF
openssl x509 -req -in "$work/server.csr" -CA "$tls/ca.crt" -CAkey "$authority/ca.key" \
    -set_serial "0x$(openssl rand -hex 16)" -days "$days" -sha256 \
    -extfile "$work/server.ext" -out "$work/server.crt" 2>/dev/null
mv "$work/server.key" "$tls/server.key"
mv "$work/server.crt" "$tls/server.crt"
# Certificates are public; the containers' users read the authority's. Keys stay 0600.
chmod 644 "$tls/ca.crt" "$tls/server.crt"
chmod 755 "$tls"

openssl verify -CAfile "$tls/ca.crt" "$tls/server.crt" >/dev/null
echo "made $tls/server.crt and $tls/server.key for: $(echo "$names" | sed 's/,/, /g')"
echo "valid until $(openssl x509 -noout -enddate -in "$tls/server.crt" | cut -d= -f2)"

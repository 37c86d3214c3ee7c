#!/bin/bash
# Prints the Secret blockstore-ceph-keyring for `kubectl apply -f -`: a Ceph keyring file
# (`[client.NAME]` and its key), made from the key read on standard input. blockstored reads it
# at the path ceph.conf's `keyring` names (/etc/blockstore/ceph-keyring/keyring).
#
#   kubectl -n rook-ceph get secret rook-ceph-client-blockstore -o jsonpath='{.data.blockstore}' |
#     base64 -d | deploy/k8s-rbd/keyring-secret.sh | kubectl apply -f -
#
# Why a copy: Rook writes the CephClient's key into a Secret of its own namespace, which pods
# of another namespace cannot mount, and it holds the bare key where Ceph reads a keyring.
# Run it again after Rook rotates the key, then restart the pods (blockstored reads the keyring
# when it connects). The key goes through a pipe, never a command line (`ps` would show it).
#
# Options: --client NAME (default blockstore: blockstored's --ceph_client_id, the CephClient of
# rook/client.yaml), --namespace NS (default blockstore).
# Exit status 2, printing nothing, when standard input is not one cephx key (base64): the
# jsonpath named the wrong key, or the Secret does not exist yet.
set -euo pipefail

client=blockstore
namespace=blockstore
while (( $# )); do
  case "$1" in
    --client) client="$2"; shift 2 ;;
    --namespace) namespace="$2"; shift 2 ;;
    *) echo "keyring-secret.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
if [[ ! "${client}" =~ ^[A-Za-z0-9._-]+$ ]]; then
  echo "keyring-secret.sh: --client ${client} is not a Ceph client name" >&2
  exit 2
fi

key="$(cat)"
# A cephx key is the base64 of a small binary blob (40 characters for Ceph's AES keys).
if [[ ! "${key}" =~ ^[A-Za-z0-9+/]{16,}={0,2}$ ]]; then
  echo "keyring-secret.sh: standard input is not a cephx key (base64, one line); check the" \
       "Secret and the jsonpath (the key's name is the Ceph client's)" >&2
  exit 2
fi

keyring="$(printf '[client.%s]\n\tkey = %s\n' "${client}" "${key}" | base64 -w0)"
cat <<SECRET
apiVersion: v1
kind: Secret
metadata:
  name: blockstore-ceph-keyring
  namespace: ${namespace}
  labels:
    app.kubernetes.io/name: blockstore
    app.kubernetes.io/component: server
    app.kubernetes.io/part-of: blockstore
type: Opaque
data:
  keyring: ${keyring}
SECRET

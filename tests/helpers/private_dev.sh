# Runs "$@" on a /dev of its own, for a test that runs as root (run by
# tests/test_cli_record.py as `sh private_dev.sh CMD...` inside
# `unshare --mount --propagation private`, with REALDEV naming an empty
# directory). /dev becomes a tmpfs holding the stdout link and the few
# devices Python opens, so that a stackwatch that replaced its output by a
# rename could only lose this copy; afterwards the script checks that the
# link is still a link (status 99 if not), else exits with CMD's status.
set -e
mount --bind /dev "$REALDEV"
mount -t tmpfs -o mode=755 tmpfs /dev
for d in null zero random urandom; do
    touch /dev/$d
    mount --bind "$REALDEV/$d" /dev/$d
done
ln -s /proc/self/fd/1 /dev/stdout
set +e
"$@"
status=$?
[ -L /dev/stdout ] || { echo "/dev/stdout was replaced" >&2; exit 99; }
exit $status

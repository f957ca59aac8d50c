#!/bin/sh
# Build the tarball GitLab's `gitaly hooks set` reads (GitLab 15.11 and later):
# a custom_hooks/ folder at the archive's root holding ONE executable hook,
# pre-receive. pre-receive sees every ref of a push at once, so a push is
# judged once; adding `update` too would judge every ref a second time.
#
#   sh make-hooks-tarball.sh [OUT]          # default OUT: custom_hooks.tar
#   FTGATE=/opt/ftgate/bin/ftgate sh make-hooks-tarball.sh
#
# FTGATE names the ftgate executable on the Gitaly server when it is not on
# the PATH the server runs hooks with. Then, on each Gitaly node holding the
# repository:
#
#   cat custom_hooks.tar | sudo -u git -- /opt/gitlab/embedded/bin/gitaly hooks set \
#       --storage default --repository @hashed/ab/cd/abcd....git \
#       --config /var/opt/gitlab/gitaly/config.toml
#
# docs/hosting.md explains where the storage name and relative path come from.
set -eu

out=${1:-custom_hooks.tar}
case $out in
    /*) ;;
    *) out="$(pwd)/$out" ;;
esac
ftgate_cmd=${FTGATE:-ftgate}
case $ftgate_cmd in
    *"'"*|*'"'*|*'$'*|*'`'*|*'\'*)
        echo "make-hooks-tarball: FTGATE must be a plain path without quotes, \$, \` or backslashes" >&2
        exit 2 ;;
esac

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT INT TERM
mkdir "$work/custom_hooks"
cat > "$work/custom_hooks/pre-receive" <<HOOK
#!/bin/sh
# ftgate server hook for GitLab, made by make-hooks-tarball.sh. It judges
# every commit of every pushed ref and refuses the whole push when one of them
# changes source outside Stage 4 Unlocked. It fails closed: without ftgate
# the push is refused, never waved through.
FTGATE="\${FTGATE:-$ftgate_cmd}"
if ! command -v "\$FTGATE" >/dev/null 2>&1; then
    echo "ftgate: '\$FTGATE' is not installed on this Gitaly server; refusing the push" >&2
    echo "ftgate: install it there (pip install ftgate-workflow) or rebuild the tarball with FTGATE=/path/to/ftgate" >&2
    exit 1
fi
exec "\$FTGATE" hook pre-receive
HOOK
chmod 755 "$work/custom_hooks/pre-receive"
chmod 755 "$work/custom_hooks"
tar -cf "$out" -C "$work" custom_hooks
echo "wrote $out (custom_hooks/pre-receive)"

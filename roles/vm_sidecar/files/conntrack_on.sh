# shellcheck shell=sh
# Turn connection tracking on in the VM's network namespace before the sidecar's interception
# starts (tasks/conntrack_on.yml explains why): list the nat tables of both iptables backends, then
# append the inert rule given as the first argument (vars/main.yml, __vm_sidecar_conntrack_rule) to
# iptables-legacy unless it is there. A missing backend is fine. Prints "added RULE" when it added
# the rule; offboarding removes it (remove_istio_chains.sh).
set -u
rule=$1
iptables-nft -t nat -S >/dev/null 2>&1
iptables-legacy -t nat -S >/dev/null 2>&1
# shellcheck disable=SC2086
if ! iptables-legacy -w -C $rule 2>/dev/null; then
  iptables-legacy -w -A $rule && echo "added $rule"
fi
exit 0

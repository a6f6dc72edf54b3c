# shellcheck shell=sh
# Turn connection tracking on in the VM's network namespace before the sidecar's interception
# starts (handlers/main.yml explains why): list the nat tables of both iptables backends, then
# add an inert rule at the end of the filter table's OUTPUT chain that needs connection tracking
# (RETURN: the chain's policy decides, as without it). Its comment is the first argument
# (vars/main.yml, __vm_sidecar_conntrack_mark); offboarding removes it
# (remove_istio_chains.sh). A missing backend is fine. Prints "added MARK" when it added the rule.
set -u
mark=$1
iptables-nft -t nat -S >/dev/null 2>&1
iptables-legacy -t nat -S >/dev/null 2>&1
rule="OUTPUT -m conntrack --ctstate INVALID -m comment --comment $mark -j RETURN"
# shellcheck disable=SC2086
if ! iptables-legacy -w -C $rule 2>/dev/null; then
  iptables-legacy -w -A $rule && echo "added $mark"
fi
exit 0

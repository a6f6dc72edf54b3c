# shellcheck shell=sh
# Remove the ISTIO_* iptables chains and the rules that jump to them, in every table and with
# every iptables backend present (pilot-agent may have used either). What istio-start.sh
# clean does, for a VM where the package is already gone or the service failed, so that its
# leftover interception does not send the VM's traffic to a sidecar that is not running
# (istio/istio#52835). With an argument (offboarding), also that iptables-legacy filter rule: the
# inert rule that turned connection tracking on before the first start (vars/main.yml,
# __vm_sidecar_conntrack_rule); the install leaves it for the next start. Prints one line per
# removed chain or rule; silent when there is nothing. Each call waits for the xtables lock (-w:
# another process holding it, systemd's own `istio-start.sh clean` among them, fails the call at
# once otherwise). Exits 1, naming them, when ISTIO_ chains are still there at the end.
set -u
conntrack_rule=${1:-}
touched=""
# The ISTIO_ chains that an iptables -S listing ($1) defines, one per line.
istio_chains() { printf '%s\n' "$1" | awk '$1 == "-N" && $2 ~ /^ISTIO_/ {print $2}'; }
if [ -n "$conntrack_rule" ] && command -v iptables-legacy >/dev/null 2>&1; then
  # shellcheck disable=SC2086
  while iptables-legacy -w -C $conntrack_rule 2>/dev/null && iptables-legacy -w -D $conntrack_rule; do
    echo "removed iptables-legacy filter rule $conntrack_rule"
  done
fi
for ipt in iptables-legacy iptables-nft ip6tables-legacy ip6tables-nft; do
  command -v "$ipt" >/dev/null 2>&1 || continue
  # One dump of the backend's tables in use (its -save loads no table): where it holds no ISTIO_
  # chain, as on most VMs, that one run is all. Without a dump, table by table.
  if dump=$("$ipt-save" 2>/dev/null); then
    case $dump in *ISTIO_*) ;; *) continue ;; esac
  fi
  touched="$touched $ipt"
  for table in nat mangle raw filter; do
    rules=$("$ipt" -w -t "$table" -S 2>/dev/null) || continue
    printf '%s\n' "$rules" | grep -E '^-A [A-Z]+ .*-j ISTIO_' | sed 's/^-A /-D /' | while read -r rule; do
      # shellcheck disable=SC2086
      "$ipt" -w -t "$table" $rule
    done
    chains=$(istio_chains "$rules")
    for chain in $chains; do "$ipt" -w -t "$table" -F "$chain"; done
    for chain in $chains; do "$ipt" -w -t "$table" -X "$chain" && echo "removed $ipt $table $chain"; done
  done
done
left=""
for ipt in $touched; do
  for table in nat mangle raw filter; do
    rules=$("$ipt" -w -t "$table" -S 2>/dev/null) || continue
    for chain in $(istio_chains "$rules"); do
      left="$left $ipt/$table/$chain"
    done
  done
done
if [ -n "$left" ]; then
  echo "ISTIO_ chains still there after their removal:$left" >&2
  exit 1
fi
exit 0

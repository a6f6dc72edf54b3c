# shellcheck shell=sh
# Restart the sidecar's unit (the restart handler, and tasks/service_start.yml when the handler's
# connection was lost): `systemctl restart UNIT`. A start that fails is not the end when systemd
# starts the unit again itself (Istio's istio.service has Restart=always, RestartSec=10 and no start
# limit; a start step that fails once, or systemd failing to set up the unit's cgroup, status
# 219/CGROUP, ends there): then it prints the unit's state and status and exits 0, and the role's
# readiness wait decides. Else it prints the same and exits with systemctl's status. The printout
# starts with a line "meshops.istio_vm: systemctl restart UNIT failed" (the handler looks for it).
# Arguments: the unit, and the number of journal lines the status shows.
set -u
# (the command runs on a terminal: plain text, no colours or links, for the role's output)
SYSTEMD_COLORS=0 SYSTEMD_URLIFY=0
export SYSTEMD_COLORS SYSTEMD_URLIFY
unit=$1
lines=$2
if systemctl restart "$unit"; then
  exit 0
else
  rc=$?
fi
state=$(systemctl show "$unit" --property=ActiveState,SubState,Result,Restart)
echo "meshops.istio_vm: systemctl restart $unit failed (exit status $rc)"
printf '%s\n' "$state" | sort
echo "==> systemctl status $unit <=="
systemctl status "$unit" --no-pager --full --lines="$lines"
if printf '%s\n' "$state" | grep -qx -e 'SubState=auto-restart' -e 'ActiveState=active'; then
  exit 0
fi
exit "$rc"

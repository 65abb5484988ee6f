/**
 * A checker of the Kubernetes Pod Security Standards, "restricted" profile (which includes
 * "baseline"), over a pod template: the controls as https://kubernetes.io/docs/concepts/security/pod-security-standards/
 * lists them, one function each, in the docs' order. It reports violations as data (the control's
 * name and the field) so a test can show every one at once, and so a deliberately broken pod can
 * prove each control fails.
 *
 * Checked fields are those of the pod spec and its containers, init containers and ephemeral
 * containers, and the AppArmor annotations of the template's metadata.
 */

// biome-ignore lint/suspicious/noExplicitAny: pod templates are untyped YAML documents
type Doc = any;

/** One failed control: its name as the docs write it, and where. */
export interface Violation {
  control: string;
  field: string;
}

/** Capabilities "baseline" allows adding. */
const BASELINE_CAPABILITIES = new Set([
  "AUDIT_WRITE",
  "CHOWN",
  "DAC_OVERRIDE",
  "FOWNER",
  "FSETID",
  "KILL",
  "MKNOD",
  "NET_BIND_SERVICE",
  "SETFCAP",
  "SETGID",
  "SETPCAP",
  "SETUID",
  "SYS_CHROOT",
]);

/** The "safe" sysctls of the baseline profile (the latest policy version). */
const SAFE_SYSCTLS = new Set([
  "kernel.shm_rmid_forced",
  "net.ipv4.ip_local_port_range",
  "net.ipv4.ip_unprivileged_port_start",
  "net.ipv4.tcp_syncookies",
  "net.ipv4.ping_group_range",
  "net.ipv4.ip_local_reserved_ports",
  "net.ipv4.tcp_keepalive_time",
  "net.ipv4.tcp_fin_timeout",
  "net.ipv4.tcp_keepalive_intvl",
  "net.ipv4.tcp_keepalive_probes",
]);

const SELINUX_TYPES = new Set([
  "",
  "container_t",
  "container_init_t",
  "container_kvm_t",
  "container_engine_t",
]);

/** Volume sources "restricted" allows. */
const RESTRICTED_VOLUMES = new Set([
  "configMap",
  "csi",
  "downwardAPI",
  "emptyDir",
  "ephemeral",
  "persistentVolumeClaim",
  "projected",
  "secret",
]);

/** Every violation of the restricted profile in a pod template (`{ metadata, spec }`). */
export function restrictedViolations(template: Doc): Violation[] {
  const spec = template.spec ?? {};
  const annotations: Record<string, string> = template.metadata?.annotations ?? {};
  const pod = spec.securityContext ?? {};
  const containers: [string, Doc][] = [
    ...(spec.containers ?? []).map((c: Doc, i: number): [string, Doc] => [`containers[${i}]`, c]),
    ...(spec.initContainers ?? []).map((c: Doc, i: number): [string, Doc] => [`initContainers[${i}]`, c]),
    ...(spec.ephemeralContainers ?? []).map((c: Doc, i: number): [string, Doc] => [
      `ephemeralContainers[${i}]`,
      c,
    ]),
  ];
  const out: Violation[] = [];
  const fail = (control: string, field: string) => out.push({ control, field });
  const each = (fn: (path: string, sc: Doc, c: Doc) => void) => {
    for (const [path, c] of containers) fn(path, c.securityContext ?? {}, c);
  };

  // ---- Baseline
  // HostProcess
  if (pod.windowsOptions?.hostProcess === true)
    fail("HostProcess", "securityContext.windowsOptions.hostProcess");
  each((p, sc) => {
    if (sc.windowsOptions?.hostProcess === true)
      fail("HostProcess", `${p}.securityContext.windowsOptions.hostProcess`);
  });
  // Host Namespaces
  for (const key of ["hostNetwork", "hostPID", "hostIPC"]) {
    if (spec[key] === true) fail("Host Namespaces", key);
  }
  // Privileged Containers
  each((p, sc) => {
    if (sc.privileged === true) fail("Privileged Containers", `${p}.securityContext.privileged`);
  });
  // Capabilities (baseline)
  each((p, sc) => {
    for (const cap of sc.capabilities?.add ?? []) {
      if (!BASELINE_CAPABILITIES.has(cap))
        fail("Capabilities (baseline)", `${p}.securityContext.capabilities.add`);
    }
  });
  // HostPath Volumes
  for (const [i, v] of (spec.volumes ?? []).entries()) {
    if (v.hostPath !== undefined) fail("HostPath Volumes", `volumes[${i}].hostPath`);
  }
  // Host Ports
  each((p, _sc, c) => {
    for (const [i, port] of (c.ports ?? []).entries()) {
      if (port.hostPort !== undefined && port.hostPort !== 0) fail("Host Ports", `${p}.ports[${i}].hostPort`);
    }
  });
  // AppArmor
  const appArmorOk = (t: unknown) => t === undefined || t === "RuntimeDefault" || t === "Localhost";
  if (!appArmorOk(pod.appArmorProfile?.type)) fail("AppArmor", "securityContext.appArmorProfile.type");
  each((p, sc) => {
    if (!appArmorOk(sc.appArmorProfile?.type)) fail("AppArmor", `${p}.securityContext.appArmorProfile.type`);
  });
  for (const [key, value] of Object.entries(annotations)) {
    if (
      key.startsWith("container.apparmor.security.beta.kubernetes.io/") &&
      value !== "runtime/default" &&
      !value.startsWith("localhost/")
    )
      fail("AppArmor", `metadata.annotations.${key}`);
  }
  // SELinux
  const seLinux = (where: string, o: Doc) => {
    if (o === undefined) return;
    if (o.type !== undefined && !SELINUX_TYPES.has(o.type)) fail("SELinux", `${where}.type`);
    if (o.user !== undefined && o.user !== "") fail("SELinux", `${where}.user`);
    if (o.role !== undefined && o.role !== "") fail("SELinux", `${where}.role`);
  };
  seLinux("securityContext.seLinuxOptions", pod.seLinuxOptions);
  each((p, sc) => seLinux(`${p}.securityContext.seLinuxOptions`, sc.seLinuxOptions));
  // /proc Mount Type
  each((p, sc) => {
    if (sc.procMount !== undefined && sc.procMount !== "Default")
      fail("/proc Mount Type", `${p}.securityContext.procMount`);
  });
  // Seccomp (baseline): never Unconfined
  if (pod.seccompProfile?.type === "Unconfined")
    fail("Seccomp (baseline)", "securityContext.seccompProfile.type");
  each((p, sc) => {
    if (sc.seccompProfile?.type === "Unconfined")
      fail("Seccomp (baseline)", `${p}.securityContext.seccompProfile.type`);
  });
  // Sysctls
  for (const [i, s] of (pod.sysctls ?? []).entries()) {
    if (!SAFE_SYSCTLS.has(s.name)) fail("Sysctls", `securityContext.sysctls[${i}].name`);
  }

  // ---- Restricted
  // Volume Types
  for (const [i, v] of (spec.volumes ?? []).entries()) {
    const sources = Object.keys(v).filter((k) => k !== "name");
    if (sources.some((k) => !RESTRICTED_VOLUMES.has(k))) fail("Volume Types", `volumes[${i}]`);
  }
  // Privilege Escalation
  each((p, sc) => {
    if (sc.allowPrivilegeEscalation !== false)
      fail("Privilege Escalation", `${p}.securityContext.allowPrivilegeEscalation`);
  });
  // Running as Non-root: the pod says true, or every container does; none says false.
  each((p, sc) => {
    if (sc.runAsNonRoot === false || (pod.runAsNonRoot !== true && sc.runAsNonRoot !== true))
      fail("Running as Non-root", `${p}.securityContext.runAsNonRoot`);
  });
  if (pod.runAsNonRoot === false) fail("Running as Non-root", "securityContext.runAsNonRoot");
  // Running as Non-root user
  if (pod.runAsUser === 0) fail("Running as Non-root user", "securityContext.runAsUser");
  each((p, sc) => {
    if (sc.runAsUser === 0) fail("Running as Non-root user", `${p}.securityContext.runAsUser`);
  });
  // Seccomp (restricted): RuntimeDefault or Localhost, at the pod or in every container.
  const seccompOk = (t: unknown) => t === "RuntimeDefault" || t === "Localhost";
  each((p, sc) => {
    const t = sc.seccompProfile?.type;
    if (t !== undefined ? !seccompOk(t) : !seccompOk(pod.seccompProfile?.type))
      fail("Seccomp", `${p}.securityContext.seccompProfile.type`);
  });
  // Capabilities (restricted): drop ALL, add at most NET_BIND_SERVICE.
  each((p, sc) => {
    if (!(sc.capabilities?.drop ?? []).includes("ALL"))
      fail("Capabilities", `${p}.securityContext.capabilities.drop`);
    for (const cap of sc.capabilities?.add ?? []) {
      if (cap !== "NET_BIND_SERVICE") fail("Capabilities", `${p}.securityContext.capabilities.add`);
    }
  });
  return out;
}

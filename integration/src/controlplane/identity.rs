//! Who a kubeconfig or token authenticates as: the admin and the kube-dns service
//! account, with the user, uid and groups the static token file gives them.

/// Who a kubeconfig or token authenticates as.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Identity {
    /// `kube-dns-rs-admin` in `system:masters`.
    Admin,
    /// `system:serviceaccount:kube-system:kube-dns`, which the bootstrap
    /// `system:kube-dns` ClusterRoleBinding binds to the `system:kube-dns` ClusterRole.
    KubeDns,
}

impl Identity {
    /// Every identity a control plane provisions.
    pub const ALL: [Identity; 2] = [Identity::Admin, Identity::KubeDns];

    /// User name.
    pub fn user(self) -> &'static str {
        match self {
            Identity::Admin => "kube-dns-rs-admin",
            Identity::KubeDns => "system:serviceaccount:kube-system:kube-dns",
        }
    }

    /// UID in the token file.
    pub fn uid(self) -> &'static str {
        match self {
            Identity::Admin => "admin",
            Identity::KubeDns => "kube-dns-sa",
        }
    }

    /// Groups (besides `system:authenticated`, which the server adds).
    pub fn groups(self) -> &'static [&'static str] {
        match self {
            Identity::Admin => &["system:masters"],
            Identity::KubeDns => &[
                "system:serviceaccounts",
                "system:serviceaccounts:kube-system",
            ],
        }
    }

    pub(super) fn file_stem(self) -> &'static str {
        match self {
            Identity::Admin => "admin",
            Identity::KubeDns => "kube-dns",
        }
    }
}

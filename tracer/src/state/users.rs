//! User and group names from `/etc/passwd` and `/etc/group`, read once.
//! Only the host's files: a container's own users are not resolved here.

use std::fs;
use std::path::Path;

use super::{IdMap, StateError};

/// One `/etc/passwd` entry (sysdig's `user.name`, `user.homedir`, `user.shell`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct User {
    pub name: String,
    pub home: String,
    pub shell: String,
}

/// One `/etc/group` entry (sysdig's `group.name`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Group {
    pub name: String,
}

/// uid and gid lookups. Unknown ids give `None`.
#[derive(Debug, Default)]
pub struct Users {
    users: IdMap<u32, User>,
    groups: IdMap<u32, Group>,
}

impl Users {
    /// Reads the host's `/etc/passwd` and `/etc/group`.
    ///
    /// # Errors
    /// When either file cannot be read.
    pub fn load_system() -> Result<Self, StateError> {
        Self::load(Path::new("/etc/passwd"), Path::new("/etc/group"))
    }

    /// Reads the given passwd and group files.
    ///
    /// # Errors
    /// When either file cannot be read.
    pub fn load(passwd: &Path, group: &Path) -> Result<Self, StateError> {
        let read = |p: &Path| {
            fs::read_to_string(p).map_err(|source| StateError::Io {
                path: p.to_owned(),
                source,
            })
        };
        Ok(Self::parse(&read(passwd)?, &read(group)?))
    }

    /// Every user, in no particular order.
    pub fn users(&self) -> impl Iterator<Item = (u32, &User)> {
        self.users.iter().map(|(&uid, u)| (uid, u))
    }

    /// Every group, in no particular order.
    pub fn groups(&self) -> impl Iterator<Item = (u32, &Group)> {
        self.groups.iter().map(|(&gid, g)| (gid, g))
    }

    /// Parses passwd and group text; malformed lines are skipped. The first
    /// entry for an id wins, as with `getpwuid`.
    #[must_use]
    pub fn parse(passwd: &str, group: &str) -> Self {
        let mut users = IdMap::default();
        for line in passwd.lines().filter(|l| !l.starts_with('#')) {
            let f: Vec<&str> = line.split(':').collect();
            if let [name, _pw, uid, _gid, _gecos, home, shell, ..] = f[..] {
                if let Ok(uid) = uid.parse() {
                    users.entry(uid).or_insert_with(|| User {
                        name: name.to_owned(),
                        home: home.to_owned(),
                        shell: shell.to_owned(),
                    });
                }
            }
        }
        let mut groups = IdMap::default();
        for line in group.lines().filter(|l| !l.starts_with('#')) {
            let f: Vec<&str> = line.split(':').collect();
            if let [name, _pw, gid, ..] = f[..] {
                if let Ok(gid) = gid.parse() {
                    groups.entry(gid).or_insert_with(|| Group {
                        name: name.to_owned(),
                    });
                }
            }
        }
        Self { users, groups }
    }

    #[must_use]
    pub fn user(&self, uid: u32) -> Option<&User> {
        self.users.get(&uid)
    }

    #[must_use]
    pub fn user_name(&self, uid: u32) -> Option<&str> {
        self.users.get(&uid).map(|u| u.name.as_str())
    }

    #[must_use]
    pub fn group_name(&self, gid: u32) -> Option<&str> {
        self.groups.get(&gid).map(|g| g.name.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loads_fixture_files() {
        let dir = tempfile::tempdir().unwrap();
        let (p, g) = (dir.path().join("passwd"), dir.path().join("group"));
        fs::write(
            &p,
            "root:x:0:0:root:/root:/bin/bash\n# comment\nbroken line\n\
             www-data:x:33:33:www-data:/var/www:/usr/sbin/nologin\nroot2:x:0:0::/:/bin/sh\n",
        )
        .unwrap();
        fs::write(&g, "root:x:0:\nadm:x:4:syslog,alice\nbad:x:notanumber:\n").unwrap();
        let u = Users::load(&p, &g).unwrap();
        assert_eq!(u.user_name(0), Some("root"));
        assert_eq!(u.user_name(33), Some("www-data"));
        assert_eq!(u.user(33).unwrap().home, "/var/www");
        assert_eq!(u.user(33).unwrap().shell, "/usr/sbin/nologin");
        assert_eq!(u.user_name(1234), None);
        assert_eq!(u.group_name(4), Some("adm"));
        assert_eq!(u.group_name(5), None);
        assert!(Users::load(&dir.path().join("nope"), &g).is_err());
    }
}

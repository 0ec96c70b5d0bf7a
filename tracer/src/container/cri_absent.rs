//! A build without the `cri` feature (the fuzz targets'): containerd and
//! CRI-O are not asked, and their containers have no metadata.

use std::path::Path;
use std::time::Duration;

use super::docker::Meta;

#[derive(Debug, thiserror::Error)]
pub enum CriError {
    #[error("sdtrace was built without CRI support (the `cri` feature)")]
    NotBuilt,
}

impl CriError {
    pub fn is_unreachable(&self) -> bool {
        false
    }

    pub fn is_unimplemented(&self) -> bool {
        true
    }
}

pub struct Cri;

impl Cri {
    pub fn new(_timeout: Duration) -> Result<Self, CriError> {
        Err(CriError::NotBuilt)
    }

    pub fn inspect(&mut self, _socket: &Path, _id: &str) -> Result<Meta, CriError> {
        Err(CriError::NotBuilt)
    }

    pub fn follow(
        &mut self,
        _socket: &Path,
        _seen: impl FnMut(String, Meta),
    ) -> Result<(), CriError> {
        Err(CriError::NotBuilt)
    }
}

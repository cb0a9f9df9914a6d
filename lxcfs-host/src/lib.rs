//! The `lxcfs` host: owns the FUSE session (fuser), the inode table, open-file snapshots and
//! PSI trigger descriptors, and forwards every filesystem question through the versioned C ABI
//! ([`lxcfs_abi`]) to the reloadable `liblxcfs.so`.

pub mod cli;
pub mod daemon;
pub mod fuse;
pub mod gate;
pub mod handles;
pub mod inodes;
pub mod logging;
pub mod pidfile;
pub mod plugin;
pub mod psi;
pub mod ticker;

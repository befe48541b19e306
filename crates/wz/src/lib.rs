//! The wangzheng application behind the `wz` command: the demo, the
//! server, the citizen wallet and relying-party terminal commands, operator
//! tools, the bench, the face evaluation and the demo registry generator —
//! library code, so that tests call it directly; `main.rs` only parses
//! arguments and calls these.

pub mod bench;
pub mod citizen;
pub mod demo;
pub mod demo_photos;
pub mod demo_registry;
pub mod env;
pub mod face;
mod http1;
pub mod kiosk;
pub mod load;
pub mod models;
pub mod operator;
pub mod plot;
pub mod registry;
pub mod serve;
pub mod terminal;
pub mod wallet_web;
pub mod web;

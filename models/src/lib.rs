//! # ferrograd-models
//!
//! What you build models from: layers ([`layers`]) behind the [`Module`] trait, losses
//! ([`loss`]), optimizers ([`optim`]), data loading ([`data`]), metrics ([`metrics`]) and
//! per-layer training statistics through module hooks ([`monitor`]), and ready-made models
//! ([`zoo`]).

#![warn(missing_docs)]

pub mod checkpoint;
pub mod data;
pub mod layers;
pub mod loss;
pub mod metrics;
mod module;
pub mod monitor;
pub mod optim;
pub mod zoo;

pub use module::{prefixed_parameters, Module};

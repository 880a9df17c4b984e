//! Activation functions as parameter-free modules.

use crate::Module;
use ferrograd_autograd::{Result, Var};

macro_rules! activation {
    ($($(#[$doc:meta])* $name:ident => |$x:ident| $body:expr;)*) => {
        $(
            $(#[$doc])*
            #[derive(Clone, Copy, Debug, Default)]
            pub struct $name;
            impl Module for $name {
                fn forward(&self, $x: &Var) -> Result<Var> {
                    $body
                }
                fn named_parameters(&self) -> Vec<(String, Var)> {
                    Vec::new()
                }
            }
        )*
    };
}

activation! {
    /// `max(x, 0)`
    Relu => |x| x.relu();
    /// `x · Φ(x)` (exact, erf-based)
    Gelu => |x| x.gelu();
    /// `1 / (1 + e^−x)`
    Sigmoid => |x| x.sigmoid();
    /// `tanh x`
    Tanh => |x| x.tanh();
    /// `ln(1 + e^x)`
    Softplus => |x| x.softplus();
}

/// `x` if `x > 0`, else `slope · x` (PyTorch's default slope is 0.01).
#[derive(Clone, Copy, Debug)]
pub struct LeakyRelu(pub f64);

impl Default for LeakyRelu {
    fn default() -> Self {
        LeakyRelu(0.01)
    }
}

impl Module for LeakyRelu {
    fn forward(&self, x: &Var) -> Result<Var> {
        x.leaky_relu(self.0)
    }
    fn named_parameters(&self) -> Vec<(String, Var)> {
        Vec::new()
    }
}

//! The `Module` trait: a layer or a model with named parameters.

use ferrograd_autograd::{Result, Var};

/// The parameters of a module's children, each name prefixed with its child's name
/// (`"fc1.weight"`, `"0.bias"`): how a module made of modules lists its own, in the children's
/// order.
pub fn prefixed_parameters<'a, S: std::fmt::Display>(
    children: impl IntoIterator<Item = (S, &'a dyn Module)>,
) -> Vec<(String, Var)> {
    children
        .into_iter()
        .flat_map(|(prefix, m)| m.named_parameters().into_iter().map(move |(n, v)| (format!("{prefix}.{n}"), v)))
        .collect()
}

/// A differentiable function with parameters, as `torch.nn.Module`.
pub trait Module {
    /// Applies the module to an input.
    fn forward(&self, x: &Var) -> Result<Var>;

    /// The module's type name without its path (`"Linear"`), for hooks and summaries.
    fn kind(&self) -> &'static str {
        let full = std::any::type_name::<Self>();
        let base = full.split('<').next().unwrap_or(full);
        base.rsplit("::").next().unwrap_or(base)
    }

    /// The trainable parameters, each with a dotted name (`"0.weight"`, `"fc1.bias"`), in a
    /// stable order.
    fn named_parameters(&self) -> Vec<(String, Var)>;

    /// The trainable parameters, without names.
    fn parameters(&self) -> Vec<Var> {
        self.named_parameters().into_iter().map(|(_, p)| p).collect()
    }

    /// Total number of trainable scalars.
    fn num_parameters(&self) -> usize {
        self.parameters().iter().map(|p| p.shape().iter().product::<usize>()).sum()
    }

    /// Switches training-time behaviour (dropout, batch statistics) on or off. Layers without
    /// such behaviour ignore it; containers pass it on to their children.
    fn set_training(&self, _training: bool) {}

    /// Training mode (as `module.train()` in PyTorch).
    fn train(&self) {
        self.set_training(true);
    }

    /// Evaluation mode (as `module.eval()` in PyTorch).
    fn eval(&self) {
        self.set_training(false);
    }

    /// Clears the gradient of every parameter.
    fn zero_grad(&self) {
        for p in self.parameters() {
            p.zero_grad();
        }
    }

    /// Moves every parameter to `device` (as `model.to(device)` in PyTorch); their gradients are
    /// cleared. Create the optimizer after this, so that its state is made on the same device.
    /// Layers with state besides their parameters (`BatchNorm`'s running statistics) move it
    /// too, and containers (`Sequential`) ask each of their layers to move.
    fn to_device(&self, device: ferrograd_autograd::Device) -> Result<()> {
        for p in self.parameters() {
            p.zero_grad();
            p.set_value(p.value().to_device(device)?)?;
        }
        Ok(())
    }
}

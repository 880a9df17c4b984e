//! A chain of modules.

use crate::{prefixed_parameters, Module};
use ferrograd_autograd::{Result, Var};
use std::cell::RefCell;
use std::rc::Rc;

/// A forward hook: `(layer index, layer kind, input, output)`.
pub type ForwardHook = dyn Fn(usize, &'static str, &Var, &Var);

/// A backward hook: `(layer index, layer kind, ∂L/∂output)`.
pub type BackwardHook = dyn Fn(usize, &'static str, &Var);

/// Applies its modules in order; parameters are named `"<index>.<name>"` as in PyTorch.
///
/// Hooks (as PyTorch's module hooks) run on every layer: a forward hook sees each layer's input
/// and output as the forward pass computes them; a backward hook sees the gradient of each
/// layer's output, `∂L/∂output`, once backward has completed it. Together they give per-layer
/// activation and gradient statistics ([`crate::monitor::LayerMonitor`]).
#[derive(Default)]
pub struct Sequential {
    layers: Vec<Box<dyn Module>>,
    forward_hooks: RefCell<Vec<Rc<ForwardHook>>>,
    backward_hooks: RefCell<Vec<Rc<BackwardHook>>>,
}

impl Sequential {
    /// An empty chain.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends a module (builder style).
    #[allow(clippy::should_implement_trait)]
    pub fn add(mut self, layer: impl Module + 'static) -> Self {
        self.layers.push(Box::new(layer));
        self
    }

    /// Number of modules.
    pub fn len(&self) -> usize {
        self.layers.len()
    }

    /// Whether the chain is empty.
    pub fn is_empty(&self) -> bool {
        self.layers.is_empty()
    }

    /// Runs `hook(index, kind, input, output)` after each layer's forward.
    pub fn register_forward_hook(&self, hook: impl Fn(usize, &'static str, &Var, &Var) + 'static) {
        self.forward_hooks.borrow_mut().push(Rc::new(hook));
    }

    /// Runs `hook(index, kind, ∂L/∂output)` during backward, for each layer whose output
    /// requires a gradient (outputs computed from then on: the hook is attached in forward).
    pub fn register_backward_hook(&self, hook: impl Fn(usize, &'static str, &Var) + 'static) {
        self.backward_hooks.borrow_mut().push(Rc::new(hook));
    }

    /// Removes every forward and backward hook (gradient hooks already attached to outputs of
    /// earlier forward passes stay with those outputs).
    pub fn clear_hooks(&self) {
        self.forward_hooks.borrow_mut().clear();
        self.backward_hooks.borrow_mut().clear();
    }
}

impl Module for Sequential {
    fn forward(&self, x: &Var) -> Result<Var> {
        // Cloned lists: a hook may register others.
        let forward_hooks = self.forward_hooks.borrow().clone();
        let backward_hooks = self.backward_hooks.borrow().clone();
        let mut h = x.clone();
        for (index, layer) in self.layers.iter().enumerate() {
            let y = layer.forward(&h)?;
            let kind = layer.kind();
            for hook in &forward_hooks {
                hook(index, kind, &h, &y);
            }
            if !backward_hooks.is_empty() && y.requires_grad() {
                let hooks = backward_hooks.clone();
                // The hook lives as long as `y` does; its handle is not needed.
                let _ = y.register_hook(move |g| {
                    for hook in &hooks {
                        hook(index, kind, g);
                    }
                    Ok(None)
                })?;
            }
            h = y;
        }
        Ok(h)
    }

    fn set_training(&self, training: bool) {
        for layer in &self.layers {
            layer.set_training(training);
        }
    }

    /// Each layer moves itself, so that layers with state besides their parameters (the
    /// running statistics of `BatchNorm`) move it too.
    fn to_device(&self, device: ferrograd_autograd::Device) -> Result<()> {
        self.layers.iter().try_for_each(|layer| layer.to_device(device))
    }

    fn named_parameters(&self) -> Vec<(String, Var)> {
        prefixed_parameters(self.layers.iter().enumerate().map(|(i, l)| (i, l.as_ref())))
    }
}

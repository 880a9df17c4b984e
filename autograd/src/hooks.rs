//! Gradient hooks: code that runs on a value's gradient during backward, to look at it or to
//! replace it (as `Tensor.register_hook` in PyTorch).
//!
//! The engine runs a value's hooks once its gradient is complete — every consumer has sent its
//! share — and before that gradient is stored in `.grad` or passed on to the value's inputs. A
//! hook that returns `Some(g′)` replaces the gradient from there on: everything upstream sees
//! `g′` (gradient clipping per value, or zeroing a path for an experiment).

use crate::var::Node;
use crate::Var;
use ferrograd_tensor::{Error, Result};
use std::rc::{Rc, Weak};
use std::sync::atomic::{AtomicUsize, Ordering};

/// A hook on a gradient: returns `Some(replacement)` to change it, `None` to leave it.
pub type GradHook = dyn Fn(&Var) -> Result<Option<Var>>;

static NEXT_HOOK: AtomicUsize = AtomicUsize::new(0);

/// Removes its hook when [`HookHandle::remove`] is called (dropping the handle keeps the hook).
#[must_use = "keep the handle to remove the hook later, or call `.remove()`"]
pub struct HookHandle {
    node: Weak<Node>,
    id: usize,
}

impl HookHandle {
    /// Unregisters the hook (nothing happens if the value is gone).
    pub fn remove(self) {
        if let Some(node) = self.node.upgrade() {
            node.hooks.borrow_mut().retain(|(id, _)| *id != self.id);
        }
    }
}

impl Var {
    /// Registers `hook` on this value's gradient `∂L/∂self` (see the [module docs](self)). An
    /// error if the value does not require a gradient: the hook would never run.
    pub fn register_hook(&self, hook: impl Fn(&Var) -> Result<Option<Var>> + 'static) -> Result<HookHandle> {
        if !self.requires_grad() {
            return Err(Error::invalid(
                "register_hook",
                "the value does not require a gradient: the hook would never run",
            ));
        }
        let id = NEXT_HOOK.fetch_add(1, Ordering::Relaxed);
        self.0.hooks.borrow_mut().push((id, Rc::new(hook)));
        Ok(HookHandle { node: Rc::downgrade(&self.0), id })
    }
}

/// Runs `node`'s hooks on its complete gradient `g`, in registration order, each seeing the
/// previous one's replacement; a replacement must keep the gradient's shape.
pub(crate) fn run(node: &Var, mut g: Var) -> Result<Var> {
    if node.0.hooks.borrow().is_empty() {
        return Ok(g); // the common case, on every node of every backward pass
    }
    // Clone the list: a hook may register or remove hooks.
    let hooks: Vec<Rc<GradHook>> = node.0.hooks.borrow().iter().map(|(_, h)| h.clone()).collect();
    for hook in hooks {
        if let Some(replacement) = hook(&g)? {
            if replacement.shape() != g.shape() {
                return Err(Error::shape(
                    "register_hook",
                    &[&g.shape(), &replacement.shape()],
                    "a hook replaced a gradient by one of another shape",
                ));
            }
            g = replacement;
        }
    }
    Ok(g)
}

//! The health of the control plane's in-process parts (the store, the controllers, the
//! scheduler), which `GET /api/v1/componentstatuses` reports as kube-apiserver reports its
//! scheduler, controller-manager and etcd members. Each part registers a check when it
//! starts; a check is cheap (no I/O) and says why the part is unhealthy.

use std::sync::{Arc, Mutex};

/// A part's health: `Err` carries why it is unhealthy.
pub type Check = Arc<dyn Fn() -> Result<(), String> + Send + Sync>;

/// The registered parts, in registration order; cheap to clone (shared).
#[derive(Clone, Default)]
pub struct Components {
    parts: Arc<Mutex<Vec<(String, Check)>>>,
}

impl std::fmt::Debug for Components {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.names()).finish()
    }
}

impl Components {
    /// Registers (or replaces) the check of the part called `name`.
    pub fn register(&self, name: &str, check: Check) {
        let Ok(mut parts) = self.parts.lock() else {
            return;
        };
        match parts.iter_mut().find(|(n, _)| n == name) {
            Some(slot) => slot.1 = check,
            None => parts.push((name.to_string(), check)),
        }
    }

    /// Registers a part that runs as the task behind `task`: healthy while the task runs.
    pub fn register_task(&self, name: &str, task: tokio::task::AbortHandle) {
        let what = name.to_string();
        self.register(
            name,
            Arc::new(move || {
                if task.is_finished() {
                    Err(format!("the {what} task has stopped"))
                } else {
                    Ok(())
                }
            }),
        );
    }

    /// The registered names.
    pub fn names(&self) -> Vec<String> {
        self.parts
            .lock()
            .map(|p| p.iter().map(|(n, _)| n.clone()).collect())
            .unwrap_or_default()
    }

    /// Every part's name and health, each check run once, outside the lock.
    pub fn statuses(&self) -> Vec<(String, Result<(), String>)> {
        let parts: Vec<(String, Check)> = self.parts.lock().map(|p| p.clone()).unwrap_or_default();
        parts
            .into_iter()
            .map(|(name, check)| {
                let health = check();
                (name, health)
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checks_run_in_registration_order_and_replace_by_name() {
        let c = Components::default();
        c.register("store", Arc::new(|| Ok(())));
        c.register("scheduler", Arc::new(|| Err("down".to_string())));
        c.register("store", Arc::new(|| Err("disk full".to_string())));
        assert_eq!(
            c.statuses(),
            vec![
                ("store".to_string(), Err("disk full".to_string())),
                ("scheduler".to_string(), Err("down".to_string())),
            ]
        );
    }

    #[tokio::test]
    async fn a_task_is_healthy_until_it_stops() {
        let c = Components::default();
        let task = tokio::spawn(std::future::pending::<()>());
        c.register_task("controller-manager", task.abort_handle());
        assert_eq!(c.statuses()[0].1, Ok(()));
        task.abort();
        let _ = task.await;
        assert_eq!(
            c.statuses()[0].1,
            Err("the controller-manager task has stopped".to_string())
        );
    }
}

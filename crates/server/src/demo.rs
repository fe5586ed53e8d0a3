//! The demo banner: what a newcomer sees after `cargo run`.

use crate::urls::encode_query_value;
use coffee_domain::ports::CatalogRepository;
use coffee_domain::Size;

/// Full QR URLs, one per drink and sold size of every device, with a machine order id unique
/// to this start (open the same URL twice → the same order, as with a real QR code).
pub async fn qr_urls(
    catalog: &dyn CatalogRepository,
    base_url: &str,
    run_tag: &str,
) -> Vec<(String, String)> {
    let mut urls = Vec::new();
    let Ok(devices) = catalog.devices().await else {
        return urls;
    };
    let mut n = 0;
    for device in devices {
        let Ok(drinks) = catalog.drinks(&device.device_uuid).await else {
            continue;
        };
        for drink in drinks {
            let Some(size) = Size::ALL
                .into_iter()
                .rev()
                .find(|s| drink.prices.get(*s).is_some())
            else {
                continue;
            };
            n += 1;
            let code = match size {
                Size::Small => 0,
                Size::Medium => 1,
                Size::Big => 2,
            };
            let label = format!(
                "{} — {} ({}, {})",
                device.device_uuid,
                drink.name,
                size.label_ru(),
                device.location
            );
            let url = format!(
                "{base_url}/v1/pay?deviceUuid={}&drinkNo={}&size={code}&uuid={run_tag}-{n}&drinkName={}",
                encode_query_value(device.device_uuid.as_str()),
                encode_query_value(drink.drink_no.as_str()),
                encode_query_value(&drink.name)
            );
            urls.push((label, url));
        }
    }
    urls
}

/// The demo's console admin: `admin` with a random password, made at every start.
pub async fn console_admin(console: &crate::console::Console) -> Option<(String, String)> {
    let password = crate::console::auth::random_password();
    match console
        .add_user("admin", coffee_domain::Role::Admin, &password)
        .await
    {
        Ok(name) => Some((name.to_string(), password)),
        Err(error) => {
            tracing::warn!(%error, "demo console admin not created");
            None
        }
    }
}

pub fn banner(
    base_url: &str,
    urls: &[(String, String)],
    admin: Option<&(String, String)>,
) -> String {
    let mut text = String::new();
    text.push_str(
        "\n==================== Coffee Payments Server — DEMO MODE ====================\n",
    );
    text.push_str(
        "Data is kept in memory only and is lost on restart (set DATABASE_URL for Postgres).\n",
    );
    text.push_str("Payments go through the built-in sandbox provider; machines are simulated.\n\n");
    text.push_str("Open a QR URL in a browser to order a drink:\n");
    for (label, url) in urls {
        text.push_str(&format!("  {label}\n    {url}\n"));
    }
    if let Some((name, password)) = admin {
        text.push_str(&format!(
            "\nOperator console: {base_url}/admin — user {name}, password {password} (new at every start)\n"
        ));
    }
    text.push_str(&format!(
        "\nOr open {base_url}/ for fresh links (each click is a new order). Health: {base_url}/health\n"
    ));
    text.push_str(
        "=============================================================================\n",
    );
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::console::Console;
    use coffee_adapter_memory::{MemoryStore, SystemClock};
    use std::sync::Arc;

    #[tokio::test]
    async fn the_demo_banner_prints_the_console_admin_and_its_random_password_once_made() {
        let store = Arc::new(MemoryStore::new());
        let console = Console {
            accounts: store.clone(),
            audit: store.clone(),
            queries: store,
            clock: Arc::new(SystemClock),
            settings: crate::config::Config::from_vars(&Default::default())
                .unwrap()
                .console,
            secure_cookies: false,
        };
        let admin = console_admin(&console).await.unwrap();
        assert_eq!(admin.0, "admin");
        assert!(admin.1.len() >= 16);
        let text = banner("http://localhost:8080", &[], Some(&admin));
        assert!(text.contains(&format!(
            "Operator console: http://localhost:8080/admin — user admin, password {}",
            admin.1
        )));
        let (session, _) = console.login("admin", &admin.1, None).await.unwrap();
        assert!(!session.token.is_empty());
    }
}

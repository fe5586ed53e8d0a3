//! The simulated machine remembers a bounded number of make commands, so a sandbox that runs
//! for days does not grow, while a repeat within that window is still not a second drink.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: failing loudly is the point

use chrono::{DateTime, Utc};
use coffee_adapter_sandbox::{SimulatedMachine, REMEMBERED_COMMANDS};
use coffee_domain::ports::{Clock, MachineGateway, MakeCommand};
use coffee_domain::{DrinkNo, MachineKind, MachineOrderId, Money, OrderId, ProviderKind, Size};
use coffee_test_support::fixtures;
use std::sync::Arc;

struct SystemClock;
impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

fn command(n: usize) -> MakeCommand {
    MakeCommand {
        order_id: OrderId::parse("67e55044-10b1-426f-9247-bb680e5fe0c8").unwrap(),
        device: fixtures::device("sim-1", "coffee-co")
            .provider(ProviderKind::Sandbox)
            .machine(MachineKind::Simulated)
            .build(),
        machine_order_id: MachineOrderId::parse(&format!("order-{n}")).unwrap(),
        drink_no: DrinkNo::parse("1").unwrap(),
        size: Size::Medium,
        price: Money::rub(15000).unwrap(),
    }
}

#[tokio::test]
async fn a_repeated_make_command_is_acknowledged_without_a_second_drink() {
    let machine = SimulatedMachine::new(Arc::new(SystemClock));
    machine.make(&command(1)).await.unwrap();
    machine.make(&command(1)).await.unwrap();
    assert_eq!(machine.make_calls(), 2);
    assert_eq!(machine.accepted().len(), 1);
}

#[tokio::test]
async fn the_machine_remembers_only_its_latest_commands() {
    let machine = SimulatedMachine::new(Arc::new(SystemClock));
    for n in 0..REMEMBERED_COMMANDS + 10 {
        machine.make(&command(n)).await.unwrap();
    }
    let accepted = machine.accepted();
    assert_eq!(accepted.len(), REMEMBERED_COMMANDS);
    assert_eq!(accepted[0].machine_order_id.as_str(), "order-10");

    // A repeat of a remembered command is still recognised …
    machine.make(&command(REMEMBERED_COMMANDS)).await.unwrap();
    assert_eq!(machine.accepted().len(), REMEMBERED_COMMANDS);
    assert_eq!(
        machine.accepted()[0].machine_order_id.as_str(),
        "order-10",
        "a repeat must not push anything out"
    );
    // … while one long forgotten is taken as new.
    machine.make(&command(0)).await.unwrap();
    let latest = machine.accepted();
    assert_eq!(latest.len(), REMEMBERED_COMMANDS);
    assert_eq!(
        latest[REMEMBERED_COMMANDS - 1].machine_order_id.as_str(),
        "order-0"
    );
}

use eventsourcing::prelude::*;

#[aggregate]
pub struct Account {
    balance: u64,
}

#[aggregate]
impl Account {
    #[created]
    pub fn open() -> Self {
        Account { balance: 0 }
    }

    #[event("Withdrawn")]
    pub fn withdraw(&mut self, amount: u64) -> Result<(), String> {
        self.balance = self.balance.checked_sub(amount).ok_or("insufficient funds")?;
        Ok(())
    }
}

fn main() {}

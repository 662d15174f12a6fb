//! SIGINT/SIGTERM: the first asks for a graceful stop, the second exits at once (whatever was
//! not committed is redelivered on the next start).

use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook::iterator::Signals;

use crate::pipeline::Control;

pub fn install(ctl: Control) -> std::io::Result<()> {
    let mut signals = Signals::new([SIGINT, SIGTERM])?;
    std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            let mut seen = 0;
            for sig in signals.forever() {
                seen += 1;
                let name = if sig == SIGINT { "SIGINT" } else { "SIGTERM" };
                if seen == 1 {
                    tracing::info!(
                        signal = name,
                        "stopping: draining in-flight events (send again to exit at once)"
                    );
                    ctl.request_stop();
                } else {
                    tracing::warn!(
                        signal = name,
                        "second signal: exiting now; uncommitted events will be redelivered"
                    );
                    std::process::exit(128 + sig);
                }
            }
        })?;
    Ok(())
}

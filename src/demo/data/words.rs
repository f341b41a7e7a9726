//! The word lists and locale tables the synthetic data set is drawn from.

/// Per-country word lists, so a Berlin customer has a German name and street.
pub(super) struct Locale {
    pub(super) country: &'static str,
    pub(super) first: &'static [&'static str],
    pub(super) last: &'static [&'static str],
    /// (city, region)
    pub(super) cities: &'static [(&'static str, &'static str)],
    pub(super) streets: &'static [&'static str],
    /// `#` is a digit, `@` an uppercase letter.
    pub(super) postal: &'static str,
    /// Whether the house number follows the street name (`Lindenstraße 12`).
    pub(super) number_last: bool,
}

#[rustfmt::skip]
pub(super) const LOCALES: &[Locale] = &[
    Locale {
        country: "US", postal: "#####", number_last: false,
        first: &["James", "Maria", "Robert", "Linda", "Michael", "Aisha", "David", "Jennifer"],
        last: &["Johnson", "Garcia", "Miller", "Nguyen", "Brown", "Okafor", "Davis", "Rodriguez"],
        cities: &[("Austin", "TX"), ("Portland", "OR"), ("Columbus", "OH"), ("Raleigh", "NC")],
        streets: &["Maple Avenue", "Oak Street", "Cedar Lane", "Sunset Boulevard", "Pine Ridge Road", "Lakeview Drive"],
    },
    Locale {
        country: "GB", postal: "@@# #@@", number_last: false,
        first: &["Oliver", "Amelia", "Harry", "Isla", "George", "Priya", "Thomas", "Emily"],
        last: &["Smith", "Taylor", "Patel", "Wilson", "Evans", "Hughes", "Khan", "Walker"],
        cities: &[("Manchester", "England"), ("Bristol", "England"), ("Edinburgh", "Scotland"), ("Cardiff", "Wales")],
        streets: &["High Street", "Station Road", "Church Lane", "Victoria Road", "Park Avenue", "Mill Lane"],
    },
    Locale {
        country: "DE", postal: "#####", number_last: true,
        first: &["Lukas", "Anna", "Jonas", "Lea", "Felix", "Sophie", "Maximilian", "Hannah"],
        last: &["Müller", "Schmidt", "Schneider", "Fischer", "Weber", "Becker", "Wagner", "Hoffmann"],
        cities: &[("Berlin", "Berlin"), ("München", "Bayern"), ("Köln", "Nordrhein-Westfalen"), ("Leipzig", "Sachsen")],
        streets: &["Lindenstraße", "Hauptstraße", "Gartenweg", "Schillerstraße", "Bahnhofstraße", "Am Markt"],
    },
    Locale {
        country: "FR", postal: "#####", number_last: false,
        first: &["Camille", "Louis", "Léa", "Hugo", "Chloé", "Jules", "Manon", "Gabriel"],
        last: &["Martin", "Bernard", "Dubois", "Lefèvre", "Moreau", "Laurent", "Girard", "Roux"],
        cities: &[("Lyon", "Auvergne-Rhône-Alpes"), ("Nantes", "Pays de la Loire"), ("Toulouse", "Occitanie"), ("Lille", "Hauts-de-France")],
        streets: &["rue de la République", "avenue Jean Jaurès", "rue Victor Hugo", "boulevard Pasteur", "rue des Lilas", "place du Marché"],
    },
    Locale {
        country: "CA", postal: "@#@ #@#", number_last: false,
        first: &["Liam", "Olivia", "Noah", "Chloe", "Ethan", "Mei", "Lucas", "Sarah"],
        last: &["Tremblay", "Roy", "Wong", "Gagnon", "MacDonald", "Singh", "Côté", "Campbell"],
        cities: &[("Toronto", "ON"), ("Montréal", "QC"), ("Vancouver", "BC"), ("Calgary", "AB")],
        streets: &["Queen Street West", "Rue Sainte-Catherine", "Granville Street", "Elm Crescent", "Bay Street", "Riverside Drive"],
    },
    Locale {
        country: "NL", postal: "#### @@", number_last: true,
        first: &["Daan", "Emma", "Sem", "Julia", "Lars", "Sanne", "Bram", "Fleur"],
        last: &["de Jong", "Jansen", "de Vries", "van Dijk", "Bakker", "Visser", "Smit", "Meijer"],
        cities: &[("Amsterdam", "Noord-Holland"), ("Utrecht", "Utrecht"), ("Rotterdam", "Zuid-Holland"), ("Eindhoven", "Noord-Brabant")],
        streets: &["Keizersgracht", "Kerkstraat", "Dorpsweg", "Molenlaan", "Stationsplein", "Oudegracht"],
    },
    Locale {
        country: "IE", postal: "@## @#@#", number_last: false,
        first: &["Seán", "Aoife", "Conor", "Niamh", "Cian", "Saoirse", "Darragh", "Ciara"],
        last: &["Murphy", "Kelly", "O'Brien", "Byrne", "Ryan", "Walsh", "O'Connor", "Doyle"],
        cities: &[("Dublin", "County Dublin"), ("Cork", "County Cork"), ("Galway", "County Galway"), ("Limerick", "County Limerick")],
        streets: &["Main Street", "Grafton Street", "Shop Street", "Patrick Street", "Strand Road", "Church View"],
    },
];

pub(super) const DOMAINS: &[&str] = &[
    "example.com",
    "example.net",
    "example.org",
    "mail.example.com",
];
#[rustfmt::skip]
pub(super) const MODELS: &[&str] = &[
    "Latitude 7440", "Latitude 5450", "XPS 13 9340", "XPS 15 9530", "Inspiron 16 5640",
    "Inspiron 14 7440", "Precision 5690", "OptiPlex 7020", "Vostro 3530", "Alienware m16 R2",
];
pub(super) const PLANS: &[&str] = &[
    "Basic Hardware Service",
    "ProSupport",
    "ProSupport Plus",
    "Premium Support",
];

/// A support issue: summary, the customer's report (`{dev}` names the device), and ways it was closed.
pub(super) struct Issue {
    pub(super) summary: &'static str,
    pub(super) report: &'static str,
    pub(super) outcomes: &'static [&'static str],
}

#[rustfmt::skip]
pub(super) const ISSUES: &[Issue] = &[
    Issue {
        summary: "No POST after BIOS update",
        report: "Customer reports no POST on {dev} after a BIOS update; power light blinks amber.",
        outcomes: &["Dispatched a replacement system board.", "Walked through a BIOS recovery; the system boots normally now."],
    },
    Issue {
        summary: "Battery not charging",
        report: "Battery on {dev} stays at 0% while on the adapter.",
        outcomes: &["Shipped a replacement battery.", "Replaced the power adapter; charging resumed."],
    },
    Issue {
        summary: "Display flickers at low brightness",
        report: "Display on {dev} flickers below half brightness.",
        outcomes: &["Updated the graphics driver; flicker is gone.", "Scheduled a display panel replacement."],
    },
    Issue {
        summary: "Keyboard keys unresponsive",
        report: "Several keys on {dev} stopped responding after a coffee spill.",
        outcomes: &["Quoted an out-of-warranty keyboard replacement.", "Sent a technician to replace the palmrest assembly."],
    },
    Issue {
        summary: "Fan noise under load",
        report: "Fan on {dev} runs loud during video calls.",
        outcomes: &["Guided the customer through cleaning the vents; noise reduced.", "Switched the thermal profile to quiet in the BIOS."],
    },
    Issue {
        summary: "Wi-Fi drops after sleep",
        report: "Wi-Fi on {dev} disconnects after resuming from sleep.",
        outcomes: &["Reinstalled the wireless driver.", "Replaced the wireless card under warranty."],
    },
    Issue {
        summary: "Dock not detected over USB-C",
        report: "Docking station is not detected by {dev} over USB-C.",
        outcomes: &["Updated the dock firmware; both monitors work.", "Sent a replacement dock."],
    },
    Issue {
        summary: "Warranty status inquiry",
        report: "Customer asked when the coverage on {dev} runs out.",
        outcomes: &["Confirmed the coverage dates and explained upgrade options.", "Offered an extension of the support plan."],
    },
    Issue {
        summary: "Blue screen during startup",
        report: "Customer sees a blue screen on {dev} during startup.",
        outcomes: &["Ran diagnostics and reimaged the drive.", "Replaced the SSD after diagnostics failed."],
    },
    Issue {
        summary: "Cracked hinge",
        report: "Left hinge on {dev} cracked and the lid wobbles.",
        outcomes: &["Booked an onsite hinge replacement.", "Customer declined the repair quote."],
    },
];

pub(super) const CALLBACKS: &[&str] = &[
    "Advised to call back on {phone} if it happens again.",
    "Customer prefers a callback on {phone} after 5 pm.",
    "Confirmed {phone} as the contact number for the technician.",
];

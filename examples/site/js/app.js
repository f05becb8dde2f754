document.getElementById("release").title = "served from " + location.pathname;

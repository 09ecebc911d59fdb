"""A generated local news web: outlets on their own loopback addresses, with ground truth.

    web = build_web(outlets=50, per_outlet=40)       # deterministic: same seed, same bytes
    with serve(web):                                  # 127.0.0.2, 127.0.0.3, … one per outlet
        ...                                           # web.truth[url].body is what the page
                                                      # at `url` was made from

Each outlet is a `pipeline.demo.server.SiteServer` bound to its own address (so per-host
politeness is real), with robots.txt, an RSS feed, a news sitemap, a home page and its
articles. Outlets write in English, Italian or Chinese (20/15/15 of 50); three Chinese
outlets serve GBK, one of them declaring it only in the page. Article bodies are composed
from car-industry sentence templates filled with companies, places and figures drawn from
a seeded generator — real sentences, so language detection and extraction behave as they do
on real pages. Around the body sit the boilerplate of five site templates (navigation,
cookie banner, ads, inline "read also" boxes, related links, comments, newsletter box,
footer, inline CSS and script state), pages of 30–150 KB.

Duplicates: every other outlet has an AMP copy of one article (same body, canonical link
to the original); every outlet carries two syndicated copies of articles from other
outlets in its language (same body, its own URL, "first appeared on" note, canonical to
the original); feeds announce a quarter of their links with tracking parameters, and a few
links twice.
"""

from __future__ import annotations

import json
import random
import socket
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from html import escape
from typing import Any, Self

SEED = 20250520
BASE_DATE = datetime(2025, 5, 20, 8, 0, tzinfo=UTC)
DEFAULT_PORT = 8650

# ------------------------------------------------------------------------ vocabulary

COMPANIES = [  # (Latin-script name, Chinese name)
    ("Xiaomi", "小米"), ("BAIC", "北汽"), ("BYD", "比亚迪"), ("NIO", "蔚来"),
    ("Li Auto", "理想汽车"), ("XPeng", "小鹏汽车"), ("Geely", "吉利"), ("SAIC", "上汽"),
    ("Great Wall Motor", "长城汽车"), ("Changan", "长安汽车"), ("Leapmotor", "零跑汽车"),
    ("Zeekr", "极氪"), ("GAC Aion", "广汽埃安"), ("Chery", "奇瑞"), ("Seres", "赛力斯"),
    ("Arcfox", "极狐"), ("Volkswagen", "大众汽车"), ("Stellantis", "Stellantis"),
]
SUPPLIERS = [
    ("CATL", "宁德时代"), ("Huawei", "华为"), ("Bosch", "博世"), ("Horizon Robotics", "地平线"),
    ("Desay SV", "德赛西威"), ("Gotion", "国轩高科"), ("Magna", "麦格纳"), ("Valeo", "法雷奥"),
    ("Pirelli", "倍耐力"), ("Brembo", "布雷博"), ("Hesai", "禾赛科技"), ("EVE Energy", "亿纬锂能"),
]
MODELS = ["SU7", "YU7", "Alpha S5", "ET5T", "L6", "G6", "Seal 06", "Han L", "Galaxy E5", "C10",
          "Zeekr 001", "Aion V", "Tiggo 9", "Aito M8", "Arcfox T1", "ID.UNYX", "Qin L", "P7+",
          "Mona M03", "Haval H9", "Deepal S07", "Xingyuan", "Blue Park X3", "Onvo L60"]
CITIES = [  # en, it, zh
    ("Beijing", "Pechino", "北京"), ("Shanghai", "Shanghai", "上海"), ("Wuhan", "Wuhan", "武汉"),
    ("Hefei", "Hefei", "合肥"), ("Qingdao", "Qingdao", "青岛"), ("Guangzhou", "Canton", "广州"),
    ("Shenzhen", "Shenzhen", "深圳"), ("Chongqing", "Chongqing", "重庆"),
    ("Changzhou", "Changzhou", "常州"), ("Xi'an", "Xi'an", "西安"),
    ("Zhengzhou", "Zhengzhou", "郑州"), ("Ningde", "Ningde", "宁德"),
    ("Yizhuang", "Yizhuang", "亦庄"), ("Turin", "Torino", "都灵"),
    ("Budapest", "Budapest", "布达佩斯"), ("Tianjin", "Tianjin", "天津"),
    ("Hangzhou", "Hangzhou", "杭州"), ("Changsha", "Changsha", "长沙"),
]
PERSONS = [
    ("Lei Jun", "雷军"), ("Wang Chuanfu", "王传福"), ("William Li", "李斌"), ("Li Xiang", "李想"),
    ("He Xiaopeng", "何小鹏"), ("Zhang Jianyong", "张建勇"), ("Robin Zeng", "曾毓群"),
    ("Li Shufu", "李书福"), ("Zhu Jiang", "朱江"), ("Lu Weibing", "卢伟冰"),
    ("Dai Kangwei", "代康伟"), ("Wei Jianjun", "魏建军"),
]
BANKS = [("Morgan Stanley", "摩根士丹利"), ("Goldman Sachs", "高盛"), ("Citi", "花旗"),
         ("UBS", "瑞银"), ("CICC", "中金公司"), ("Jefferies", "杰富瑞"), ("HSBC", "汇丰"),
         ("Nomura", "野村")]
PARTS = [  # en, it, zh
    ("battery packs", "pacchi batteria", "电池包"),
    ("electric drive units", "motori elettrici", "电驱系统"),
    ("lidar sensors", "sensori lidar", "激光雷达"),
    ("silicon carbide chips", "chip al carburo di silicio", "碳化硅芯片"),
    ("thermal management systems", "sistemi di gestione termica", "热管理系统"),
    ("driver assistance chips", "chip per la guida assistita", "智驾芯片"),
    ("solid-state batteries", "batterie allo stato solido", "固态电池"),
    ("seat modules", "moduli dei sedili", "座椅模块"),
]
MONTHS_EN = ["January", "February", "March", "April", "May", "June", "July", "August",
             "September", "October", "November", "December"]
MONTHS_IT = ["gennaio", "febbraio", "marzo", "aprile", "maggio", "giugno", "luglio", "agosto",
             "settembre", "ottobre", "novembre", "dicembre"]
WEEKDAYS_EN = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday"]
WEEKDAYS_ZH = ["周一", "周二", "周三", "周四", "周五"]
QUARTERS_EN = ["first", "second", "third", "fourth"]
QUARTERS_IT = ["primo", "secondo", "terzo", "quarto"]
QUARTERS_ZH = ["一", "二", "三", "四"]
ORDINALS_EN = ["first", "second", "third", "fourth", "fifth", "sixth", "seventh", "eighth"]
WEEKDAYS_IT = ["lunedì", "martedì", "mercoledì", "giovedì", "venerdì"]
NUMBERS = {  # slot: (low, high, decimals)
    "n": (1_200, 480_000, 0), "n2": (1_200_000, 2_400_000, 0), "n3": (12, 9_800, 0),
    "n4": (8, 120, 0), "n5": (900, 42_000, 0), "pct": (1.5, 79.0, 1), "pct2": (5, 35, 0),
    "pct3": (1.5, 30.0, 1), "bn": (0.8, 95.0, 1), "price": (12.0, 95.0, 2),
    "price2": (99_900, 329_900, 0), "price3": (3_000, 40_000, 0), "hours": (1, 72, 0),
    "km": (420, 900, 0), "km2": (150, 520, 0), "km3": (10_000, 9_000_000, 0),
    "volt": (800, 1000, 0), "mins": (5, 20, 0), "yrs": (2, 6, 0), "weeks": (4, 40, 0),
    "area": (200_000, 1_800_000, 0),
}
ORDINALS_IT = ["primo", "secondo", "terzo", "quarto", "quinto", "sesto", "settimo", "ottavo"]

SENTENCES = {
    "en": [
        "{co} said on {weekday} it delivered {n} vehicles in {month}, up {pct}% from a year earlier.",
        "The company plans to build a second plant in {city} with an annual capacity of {n} cars by {year}.",
        "{co} will invest {bn} billion yuan in a new battery factory near {city}, according to a filing with the Hong Kong stock exchange.",
        "{person}, who leads the electric vehicle unit at {co}, told reporters that the {model} had received {n} firm orders within {hours} hours of its launch.",
        "Shares of {co} rose {pct}% in Hong Kong trading on {weekday} after the announcement.",
        "Analysts at {bank} raised their price target on {co} to {price} Hong Kong dollars, citing stronger than expected margins.",
        "The {model} starts at {price2} yuan, undercutting the Tesla Model 3 by about {pct2}%.",
        "{co} and {co2} signed a framework agreement to jointly develop {part} for vehicles sold outside China.",
        "Production at the {city} factory is expected to reach {n} units per month in the {q} quarter.",
        "The gross margin of its car business was {pct}% in the {q} quarter, compared with {pct3}% in the previous three months.",
        "{co2} supplies the {part} used in the {model}, which has a claimed range of {km} kilometres.",
        "Deliveries of the {model} are scheduled to begin in {month}, with the first cars going to customers in {city}.",
        "China's passenger vehicle retail sales totalled {n2} units in {month}, the China Passenger Car Association said.",
        "Electric and plug-in hybrid models accounted for {pct}% of new car sales in the country in {month}.",
        "{co} has hired {n3} engineers for its autonomous driving team since {year}, a spokesperson said.",
        "The carmaker's price cuts of up to {price3} yuan have intensified a price war that has squeezed profits at {co2} and other rivals.",
        "Local authorities in {city} have offered land and tax incentives worth {bn} billion yuan to secure the project.",
        "{co} expects to sell {n} vehicles this year, a target that some analysts consider ambitious.",
        "The {model} uses an {volt}-volt platform that can add {km2} kilometres of range in {mins} minutes of charging.",
        "European regulators are examining whether subsidies gave Chinese carmakers such as {co} an unfair advantage, with tariffs of up to {pct}% under discussion.",
        "{co} said it would open {n3} new stores across {n4} cities by the end of {year}.",
        "The joint venture between {co} and {co2} employs about {n5} people at its plant in {city}.",
        "A recall of {n3} units of the {model} was announced on {weekday} after a fault was found in the {part}.",
        "{person} said during an earnings call that the order backlog of {co} stood at {n} vehicles.",
        "Revenue from smart electric vehicles rose to {bn} billion yuan in the {q} quarter, the company said.",
        "{co} is testing its driver assistance system on roads in {city} and {city2}, covering {km3} kilometres so far.",
        "Research and development spending at {co} climbed {pct}% to {bn} billion yuan in {year}.",
        "The chairman of {co2} said the partnership with {co} would cut battery costs by {pct2}% over {yrs} years.",
        "Waiting times for the {model} have stretched to {weeks} weeks, according to the ordering app of {co}.",
        "Industry data show that {co} ranked {rank} among China's electric vehicle makers by deliveries in {month}.",
        "The second phase of the {city} plant, covering {area} square metres, is due to start production in {year}.",
        "{co} reported a net loss of {bn} billion yuan for its car business in the {q} quarter, narrower than analysts had expected.",
    ],
    "it": [
        "{co} ha consegnato {n} veicoli nel mese di {month}, in crescita del {pct}% rispetto a un anno prima.",
        "La società prevede di costruire un secondo stabilimento a {city} con una capacità annua di {n} auto entro il {year}.",
        "{co} investirà {bn} miliardi di yuan in una nuova fabbrica di batterie vicino a {city}, secondo un documento depositato alla borsa di Hong Kong.",
        "{person}, che guida la divisione delle auto elettriche di {co}, ha dichiarato che la {model} ha ricevuto {n} ordini vincolanti nelle prime {hours} ore.",
        "Le azioni di {co} sono salite del {pct}% alla borsa di Hong Kong dopo l'annuncio di {weekday}.",
        "Gli analisti di {bank} hanno alzato il prezzo obiettivo di {co} a {price} dollari di Hong Kong, citando margini superiori alle attese.",
        "La {model} parte da {price2} yuan, circa il {pct2}% in meno rispetto alla Tesla Model 3.",
        "{co} e {co2} hanno firmato un accordo quadro per sviluppare insieme {part} destinati ai veicoli venduti fuori dalla Cina.",
        "La produzione nello stabilimento di {city} dovrebbe raggiungere {n} unità al mese nel {q} trimestre.",
        "Il margine lordo del settore automobilistico è stato del {pct}% nel {q} trimestre, contro il {pct3}% dei tre mesi precedenti.",
        "{co2} fornisce i {part} montati sulla {model}, che dichiara un'autonomia di {km} chilometri.",
        "Le consegne della {model} inizieranno a {month}, con le prime vetture destinate ai clienti di {city}.",
        "Secondo la China Passenger Car Association, le vendite al dettaglio di autovetture in Cina hanno raggiunto {n2} unità a {month}.",
        "I modelli elettrici e ibridi plug-in hanno rappresentato il {pct}% delle immatricolazioni di {month}.",
        "Dal {year} {co} ha assunto {n3} ingegneri per il gruppo dedicato alla guida autonoma, ha precisato un portavoce.",
        "I tagli dei prezzi fino a {price3} yuan hanno inasprito una guerra dei prezzi che ha ridotto i profitti di {co2} e di altri concorrenti.",
        "Le autorità locali di {city} hanno offerto terreni e incentivi fiscali per {bn} miliardi di yuan pur di assicurarsi il progetto.",
        "{co} prevede di vendere {n} veicoli quest'anno, un obiettivo che alcuni analisti giudicano ambizioso.",
        "La {model} utilizza una piattaforma a {volt} volt che permette di recuperare {km2} chilometri di autonomia in {mins} minuti di ricarica.",
        "La Commissione europea sta valutando se i sussidi abbiano dato ai costruttori cinesi come {co} un vantaggio sleale, con dazi fino al {pct}%.",
        "{co} ha annunciato l'apertura di {n3} nuovi punti vendita in {n4} città entro la fine del {year}.",
        "La joint venture tra {co} e {co2} impiega circa {n5} persone nello stabilimento di {city}.",
        "È stato annunciato un richiamo di {n3} esemplari della {model} dopo un difetto riscontrato nei {part}.",
        "Durante la conferenza con gli analisti, {person} ha detto che il portafoglio ordini di {co} era di {n} veicoli.",
        "I ricavi dei veicoli elettrici intelligenti sono saliti a {bn} miliardi di yuan nel {q} trimestre.",
        "{co} sta provando il suo sistema di assistenza alla guida sulle strade di {city} e {city2}, dove ha già percorso {km3} chilometri.",
        "La spesa in ricerca e sviluppo di {co} è aumentata del {pct}% a {bn} miliardi di yuan nel {year}.",
        "Il presidente di {co2} ha affermato che la collaborazione con {co} ridurrà il costo delle batterie del {pct2}% in {yrs} anni.",
        "I tempi di attesa per la {model} sono saliti a {weeks} settimane, secondo l'applicazione per gli ordini di {co}.",
        "Secondo i dati del settore, {co} si è classificata al {rank} posto tra i produttori cinesi di auto elettriche per consegne a {month}.",
        "La seconda fase dello stabilimento di {city}, su una superficie di {area} metri quadrati, dovrebbe entrare in produzione nel {year}.",
        "{co} ha registrato una perdita netta di {bn} miliardi di yuan nel settore auto nel {q} trimestre, inferiore alle attese degli analisti.",
    ],
    "zh": [
        "{co}{weekday}表示，{month}共交付新车{n}辆，同比增长{pct}%。",
        "公司计划在{city}建设第二座工厂，到{year}年年产能将达到{n}辆。",
        "根据向香港联交所提交的公告，{co}将投资{bn}亿元在{city}附近新建一座电池工厂。",
        "{co}汽车业务负责人{person}对记者表示，{model}上市{hours}小时内锁单量达到{n}台。",
        "消息公布后，{co}港股股价{weekday}上涨{pct}%。",
        "{bank}分析师将{co}的目标价上调至{price}港元，理由是利润率好于预期。",
        "{model}起售价为{price2}元，比特斯拉Model 3低约{pct2}%。",
        "{co}与{co2}签署框架协议，将共同开发面向海外市场车型的{part}。",
        "{city}工厂的产量预计在第{q}季度达到每月{n}辆。",
        "第{q}季度汽车业务毛利率为{pct}%，上一季度为{pct3}%。",
        "{model}搭载的{part}由{co2}供应，官方续航里程为{km}公里。",
        "{model}将于{month}开始交付，首批车辆将交付给{city}的用户。",
        "乘联会数据显示，{month}全国乘用车零售销量为{n2}辆。",
        "{month}新能源汽车在国内新车销量中的占比达到{pct}%。",
        "公司发言人表示，自{year}年以来，{co}已为自动驾驶团队招聘{n3}名工程师。",
        "该车企最高{price3}元的降价举措加剧了价格战，{co2}等竞争对手的利润受到挤压。",
        "为争取该项目，{city}地方政府提供了价值{bn}亿元的土地和税收优惠。",
        "{co}预计今年销量将达到{n}辆，部分分析师认为这一目标过于激进。",
        "{model}采用{volt}伏高压平台，充电{mins}分钟可增加续航{km2}公里。",
        "欧盟正在调查补贴是否让{co}等中国车企获得了不公平优势，拟议关税最高可达{pct}%。",
        "{co}表示，到{year}年底将在{n4}个城市新开{n3}家门店。",
        "{co}与{co2}的合资公司在{city}工厂约有员工{n5}人。",
        "由于{part}存在缺陷，{co}{weekday}宣布召回{n3}辆{model}。",
        "{person}在业绩电话会上表示，{co}在手订单为{n}辆。",
        "第{q}季度{co}智能电动汽车业务收入增至{bn}亿元。",
        "{co}正在{city}和{city2}的道路上测试其辅助驾驶系统，累计测试里程已达{km3}公里。",
        "{year}年{co}研发投入同比增长{pct}%，达到{bn}亿元。",
        "{co2}董事长表示，与{co}的合作将在{yrs}年内使电池成本降低{pct2}%。",
        "根据{co}官方订车小程序，{model}的等车时间已延长至{weeks}周。",
        "行业数据显示，{month}{co}的交付量在中国电动车企中排名第{rank}。",
        "{city}工厂二期占地{area}平方米，预计于{year}年投产。",
        "第{q}季度{co}汽车业务净亏损{bn}亿元，亏损幅度小于分析师预期。",
    ],
}
TITLES = {
    "en": ["{co} deliveries rise {pct}% in {month}",
           "{co} to build {city} plant with {bn} billion yuan investment",
           "{co} and {co2} team up on {part}",
           "{model} orders top {n} as {co} ramps up production",
           "{co} shares jump after {model} launch",
           "{co} recalls {n3} {model} cars over {part} fault",
           "{co} plans {n3} new stores as price war deepens",
           "{co} sets {year} sales target of {n} vehicles"],
    "it": ["{co}, consegne in crescita del {pct}% a {month}",
           "{co} costruirà uno stabilimento a {city}: investimento da {bn} miliardi di yuan",
           "{co} e {co2} insieme per i {part}",
           "{model}, ordini oltre quota {n}: {co} accelera la produzione",
           "{co} vola in borsa dopo il lancio della {model}",
           "{co} richiama {n3} esemplari della {model}",
           "{co} apre {n3} nuovi negozi mentre la guerra dei prezzi si inasprisce",
           "{co}, obiettivo di {n} veicoli venduti nel {year}"],
    "zh": ["{co}{month}交付量同比增长{pct}%",
           "{co}拟投资{bn}亿元在{city}建厂",
           "{co}与{co2}合作开发{part}",
           "{model}锁单量突破{n}台 {co}加速提升产能",
           "{model}发布后{co}股价大涨",
           "{co}召回{n3}辆{model}",
           "价格战加剧 {co}将新开{n3}家门店",
           "{co}设定{year}年销量目标{n}辆"],
}
COMMENTS = {
    "en": ["Great news for the industry, but I will wait for the real-world range tests.",
           "Prices keep falling, good time to buy if you ask me.",
           "Still no word on deliveries to Europe?", "The interior looks much better than the last model.",
           "I test drove one last week and the software was impressive.",
           "How long until the tariffs kill this?", "Charging network is what matters, not the price."],
    "it": ["Ottima notizia, ma aspetto le prove su strada prima di giudicare.",
           "I prezzi continuano a scendere, è il momento di comprare.",
           "Quando arriverà in Italia?", "Gli interni sono molto migliorati rispetto al modello precedente.",
           "L'ho provata la settimana scorsa, il software è notevole.",
           "Con i dazi europei non so quanto costerà qui.", "Conta la rete di ricarica, non il prezzo."],
    "zh": ["好消息，不过还是等等实际续航测试吧。", "价格一直在降，现在买正是时候。",
           "什么时候能在我们这里提车？", "内饰比上一代好太多了。", "上周试驾了一下，车机系统很流畅。",
           "关键还是充电网络。", "这个价格真的很有竞争力。"],
}
UI = {  # boilerplate strings per language
    "en": {"home": "Home", "sections": ["News", "EV", "Industry", "Markets", "Tech", "Reviews",
                                        "Policy", "Batteries", "Autonomy", "Opinion", "Video",
                                        "Podcasts", "Events", "Newsletters", "Jobs", "About us"],
           "cookie": "We use cookies and similar technologies to personalise content and ads, "
                     "to provide social media features and to analyse our traffic. By clicking "
                     "Accept all you consent to our use of cookies. Manage preferences",
           "ad": "Advertisement", "related": "Related stories", "readalso": "Read also",
           "comments": "Comments", "newsletter": "Get the daily briefing on China's car industry "
                                                 "in your inbox. Sign up now, it's free.",
           "by": "By", "share": "Share this article", "tags": "Tags",
           "footer": "All rights reserved. Reproduction in whole or in part without permission "
                     "is prohibited. Privacy policy · Terms of use · Cookie settings · Contact "
                     "· Advertise with us",
           "synd": "This article first appeared on {outlet}.", "popular": "Most read"},
    "it": {"home": "Home", "sections": ["Notizie", "Auto elettriche", "Industria", "Mercati",
                                        "Tecnologia", "Prove", "Politica", "Batterie",
                                        "Guida autonoma", "Opinioni", "Video", "Podcast",
                                        "Eventi", "Newsletter", "Lavora con noi", "Chi siamo"],
           "cookie": "Questo sito utilizza cookie tecnici e di profilazione, anche di terze "
                     "parti, per migliorare la tua esperienza e mostrarti pubblicità in linea "
                     "con le tue preferenze. Cliccando su Accetta acconsenti all'uso dei cookie.",
           "ad": "Pubblicità", "related": "Articoli correlati", "readalso": "Leggi anche",
           "comments": "Commenti", "newsletter": "Ricevi ogni mattina le notizie sull'auto "
                                                 "cinese. Iscriviti alla newsletter gratuita.",
           "by": "di", "share": "Condividi questo articolo", "tags": "Argomenti",
           "footer": "Tutti i diritti riservati. Vietata la riproduzione anche parziale. "
                     "Informativa privacy · Condizioni d'uso · Preferenze cookie · Contatti · "
                     "Pubblicità",
           "synd": "Questo articolo è apparso per la prima volta su {outlet}.",
           "popular": "I più letti"},
    "zh": {"home": "首页", "sections": ["新闻", "新能源", "产业", "市场", "科技", "评测", "政策",
                                       "电池", "自动驾驶", "观点", "视频", "播客", "活动", "订阅",
                                       "招聘", "关于我们"],
           "cookie": "本网站使用Cookie来改善您的浏览体验并提供个性化内容。继续浏览即表示您同意我们使用"
                     "Cookie。了解更多",
           "ad": "广告", "related": "相关阅读", "readalso": "延伸阅读", "comments": "网友评论",
           "newsletter": "订阅每日汽车产业简报，第一时间获取行业动态。", "by": "作者：",
           "share": "分享到", "tags": "标签",
           "footer": "版权所有 未经授权禁止转载 隐私政策 · 用户协议 · 联系我们 · 广告服务 · "
                     "京ICP备12345678号",
           "synd": "本文转载自{outlet}。", "popular": "热门文章"},
}
OUTLET_NAMES = {
    "en": ["Auto Wire", "EV Daily", "Motor Ledger", "China Car Report", "Charge Point News",
           "Drive Asia", "The Battery Times", "Carmaker Insider", "Electric Road", "Torque Post",
           "Volt Review", "Auto Markets Today", "Gigafactory Watch", "Mobility Journal",
           "Dashboard News", "The EV Observer", "Autobeat China", "Fleet & Factory",
           "Powertrain Weekly", "Motor Asia Herald"],
    "it": ["Motori Oggi", "Il Quotidiano dell'Auto", "Auto Elettrica News", "Quattroruote Asia",
           "La Gazzetta dei Motori", "Mobilità Domani", "Il Volante", "Corriere dell'Auto",
           "Energia e Motori", "Auto Mercati", "Il Portale dell'Auto", "Strade Elettriche",
           "Notizie Automotive", "Il Cruscotto", "Ruote e Batterie"],
    "zh": ["汽车之声", "新能源观察", "车界日报", "电动汽车网", "智能出行报", "汽车产业评论", "车市快讯",
           "电池周刊", "汽车财经", "新车情报站", "出行科技网", "产业链观察", "汽车头条", "整车观察",
           "驾驭网"],
}
LANG_PLAN = ["en"] * 20 + ["it"] * 15 + ["zh"] * 15
TEMPLATES = ("classic", "portal", "magazine", "cnportal", "brtext")


# ------------------------------------------------------------------------ records


@dataclass(slots=True)
class Truth:
    """What the page at `url` was made from."""

    url: str
    outlet: str
    lang: str
    title: str
    body: str  # paragraphs separated by "\n"
    published: str
    duplicate_of: str | None = None  # the URL whose body this page repeats


@dataclass
class Outlet:
    index: int
    name: str
    slug: str
    lang: str
    host: str
    port: int
    template: str
    kind: str  # the source kind tidings is configured with: feed | sitemap
    charset: str = "utf-8"
    charset_in_header: bool = True
    routes: dict[str, tuple[bytes, str, datetime | None]] = field(default_factory=dict)

    @property
    def base(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def feed_url(self) -> str:
        return self.base + "/feed.xml"

    @property
    def sitemap_url(self) -> str:
        return self.base + "/sitemap.xml"

    @property
    def source_url(self) -> str:
        return self.feed_url if self.kind == "feed" else self.sitemap_url


@dataclass
class NewsWeb:
    outlets: list[Outlet]
    truth: dict[str, Truth]  # article URL (clean) → what it was made from
    pages: dict[str, bytes]  # article URL → the bytes served
    seed: int

    @property
    def article_urls(self) -> list[str]:
        return list(self.truth)

    def summary(self) -> dict[str, object]:
        sizes = sorted(len(b) for b in self.pages.values())
        langs: dict[str, int] = {}
        for t in self.truth.values():
            langs[t.lang] = langs.get(t.lang, 0) + 1
        return {
            "outlets": len(self.outlets), "articles": len(self.truth),
            "languages": langs,
            "duplicates": sum(1 for t in self.truth.values() if t.duplicate_of),
            "bytes": sum(sizes), "median_kb": sizes[len(sizes) // 2] / 1024 if sizes else 0,
            "min_kb": sizes[0] / 1024 if sizes else 0, "max_kb": sizes[-1] / 1024 if sizes else 0,
            "gbk_outlets": sum(1 for o in self.outlets if o.charset != "utf-8"),
        }


# ------------------------------------------------------------------------ text


def _num(lang: str, value: float, decimals: int = 0) -> str:
    """Numbers as each language writes them: 12,345.6 · 12.345,6 · 12345.6."""
    text = f"{value:,.{decimals}f}"
    if lang == "it":
        return text.replace(",", "\x00").replace(".", ",").replace("\x00", ".")
    if lang == "zh":
        return text.replace(",", "")
    return text


class Filler:
    """Slot values for one article: its cast (company, model, city …) and fresh figures."""

    def __init__(self, rng: random.Random, lang: str) -> None:
        self.rng = rng
        self.lang = lang
        self.co = rng.choice(COMPANIES)
        self.co2 = rng.choice(SUPPLIERS)
        self.model = rng.choice(MODELS)
        self.city, self.city2 = rng.sample(CITIES, 2)
        self.person = rng.choice(PERSONS)
        self.bank = rng.choice(BANKS)
        self.part = rng.choice(PARTS)
        self.month = rng.randrange(12)
        self.year = rng.choice([2025, 2026, 2027])
        self.q = rng.randrange(4)

    def value(self, key: str) -> str:
        r, lang = self.rng, self.lang
        zh = lang == "zh"
        li = 2 if zh else 1 if lang == "it" else 0
        if key == "co":
            co = self.co if r.random() < 0.8 else r.choice(COMPANIES)
            return co[1] if zh else co[0]
        if key in ("co2", "person", "bank"):
            pair = getattr(self, key)
            return pair[1] if zh else pair[0]
        if key in ("city", "city2", "part"):
            return getattr(self, key)[li]
        if key == "model":
            return self.model
        if key == "month":
            return (f"{self.month + 1}月" if zh else
                    (MONTHS_IT if lang == "it" else MONTHS_EN)[self.month])
        if key == "weekday":
            return (WEEKDAYS_ZH if zh else WEEKDAYS_IT if lang == "it" else
                    WEEKDAYS_EN)[r.randrange(5)]
        if key == "q":
            return (QUARTERS_ZH if zh else QUARTERS_IT if lang == "it" else QUARTERS_EN)[self.q]
        if key == "year":
            return str(self.year)
        if key == "rank":
            return (str(r.randrange(1, 9)) if zh else
                    (ORDINALS_IT if lang == "it" else ORDINALS_EN)[r.randrange(8)])
        low, high, decimals = NUMBERS[key]
        if decimals:
            return _num(lang, r.uniform(low, high), decimals)
        value = r.randrange(low, high)
        return _num(lang, value) if value >= 1000 else str(value)

    def fill(self, template: str) -> str:
        return template.format_map(_Slots(self))


class _Slots(dict[str, str]):
    def __init__(self, filler: Filler) -> None:
        super().__init__()
        self.filler = filler

    def __missing__(self, key: str) -> str:
        return self.filler.value(key)


def make_article_text(rng: random.Random, lang: str) -> tuple[str, list[str]]:
    """(title, paragraphs) of one article."""
    filler = Filler(rng, lang)
    title = filler.fill(rng.choice(TITLES[lang]))
    pool = SENTENCES[lang][:]
    rng.shuffle(pool)
    paragraphs = []
    n_par = rng.randrange(6, 12)
    i = 0
    for _ in range(n_par):
        count = rng.randrange(2, 5)
        sentences = []
        for _ in range(count):
            sentences.append(filler.fill(pool[i % len(pool)]))
            i += 1
        paragraphs.append(("" if lang == "zh" else " ").join(sentences))
    return title, paragraphs


# ------------------------------------------------------------------------ pages


def _css(rng: random.Random, size: int) -> str:
    parts, total = [], 0
    props = ["margin:0 auto", "padding:12px 16px", "display:flex", "color:#1a1a1a",
             "font-size:15px", "line-height:1.6", "border-bottom:1px solid #e5e5e5",
             "background:#fafafa", "grid-template-columns:repeat(3,1fr)", "position:relative",
             "text-transform:uppercase", "letter-spacing:.04em", "max-width:1180px"]
    while total < size:
        sel = "." + "-".join(rng.choice(["nav", "hdr", "art", "card", "ad", "ftr", "grid", "btn",
                                         "teaser", "meta", "share", "promo", "rail", "slot"])
                             for _ in range(rng.randrange(1, 4)))
        rule = f"{sel}{{{';'.join(rng.sample(props, rng.randrange(2, 6)))}}}"
        parts.append(rule)
        total += len(rule)
    return "\n".join(parts)


def teaser_pool(rng: random.Random, teasers: list[tuple[str, str]], n: int = 400) -> list[str]:
    """JSON teaser objects of an outlet's script state, made once per outlet."""
    pool = []
    for _ in range(n if teasers else 0):
        url, title = rng.choice(teasers)
        pool.append(json.dumps(
            {"id": rng.randrange(10**8), "url": url, "title": title,
             "img": f"/img/{rng.randrange(10**6)}.webp", "views": rng.randrange(10**5),
             "tracking": {"pos": rng.randrange(40), "exp": "ab" + str(rng.randrange(9))}},
            ensure_ascii=False).replace("</", "<\\/"))
    return pool


def _state_blob(rng: random.Random, size: int, pool: list[str]) -> str:
    """`window.__APP_STATE__` of about `size` characters, cut from the outlet's pool."""
    items, total, i = [], 0, rng.randrange(len(pool)) if pool else 0
    while total < size and pool:
        item = pool[i % len(pool)]
        items.append(item)
        total += len(item) + 2
        i += 7
    return "window.__APP_STATE__ = {\"teasers\": [" + ",\n".join(items) + "]};"


@dataclass
class PageParts:
    outlet: Outlet
    url: str
    path: str
    title: str
    paragraphs: list[str]
    published: datetime
    author: str
    canonical: str
    syndicated_from: str | None = None  # outlet name


def render(p: PageParts, rng: random.Random, css: str, teasers: list[tuple[str, str]],
           pool: list[str], target: int) -> str:
    o, ui = p.outlet, UI[p.outlet.lang]
    lang_attr = {"en": "en", "it": "it", "zh": "zh-CN"}[o.lang]
    e = escape
    when = p.published.isoformat()
    related = rng.sample(teasers, min(len(teasers), rng.randrange(6, 14)))
    nav = "".join(f'<li><a href="/{s.lower().replace(" ", "-")}/">{e(s)}</a></li>'
                  for s in ui["sections"])
    sub_nav = "".join(f'<li><a href="/topic/{rng.randrange(10**4)}">{e(rng.choice(COMPANIES)[1 if o.lang == "zh" else 0])}</a></li>'
                      for _ in range(rng.randrange(8, 20)))
    rel = "".join(f'<li class="teaser"><a href="{e(u)}"><img src="/img/t{rng.randrange(10**5)}.jpg" '
                  f'alt=""><span>{e(t)}</span></a></li>' for u, t in related)
    ad = (f'<div class="ad-slot ad-{rng.choice(["mpu", "leader", "native"])}" data-slot="'
          f'{rng.randrange(10**6)}"><span class="ad-label">{e(ui["ad"])}</span>'
          f'<iframe src="/ads/frame.html?c={rng.randrange(10**6)}" width="300" height="250">'
          f'</iframe></div>')
    comments = ""
    if p.outlet.template in ("classic", "magazine", "cnportal"):
        n_comments = rng.randrange(2, 12)
        comments = "".join(
            f'<li class="comment"><div class="comment-author">user{rng.randrange(10**5)}</div>'
            f'<time>{rng.randrange(1, 59)} min</time><p>{e(rng.choice(COMMENTS[o.lang]))}</p>'
            f'<a class="reply" href="#">Reply</a></li>' for _ in range(n_comments))
        comments = (f'<section id="comments" class="comments"><h3>{e(ui["comments"])} '
                    f'({n_comments})</h3><ol class="comment-list">{comments}</ol></section>')
    readalso_u, readalso_t = rng.choice(teasers)
    readalso = (f'<aside class="inline-related"><strong>{e(ui["readalso"])}:</strong> '
                f'<a href="{e(readalso_u)}">{e(readalso_t)}</a></aside>')
    paras = [e(x) for x in p.paragraphs]
    byline_author = e(p.author)
    synd = ""
    if p.syndicated_from:
        synd = f'<p class="syndication-note"><em>{e(ui["synd"].format(outlet=p.syndicated_from))}</em></p>'

    if o.template == "classic":  # WordPress-like
        body_html = "".join(f"<p>{x}</p>\n" for x in paras[:3]) + ad + \
            "".join(f"<p>{x}</p>\n" for x in paras[3:])
        main = (f'<article id="post-{rng.randrange(10**5)}" class="post type-post hentry">'
                f'<header class="entry-header"><h1 class="entry-title">{e(p.title)}</h1>'
                f'<div class="entry-meta"><span class="byline">{e(ui["by"])} <a href="/author/x" '
                f'rel="author">{byline_author}</a></span> <time class="entry-date published" '
                f'datetime="{when}">{p.published:%Y-%m-%d %H:%M}</time></div></header>'
                f'<div class="entry-content">{body_html}</div>{synd}'
                f'<footer class="entry-footer"><span class="tags-links">{e(ui["tags"])}: '
                f'<a href="/tag/ev" rel="tag">EV</a>, <a href="/tag/china" rel="tag">China</a>'
                f'</span></footer></article>'
                f'<div class="share">{e(ui["share"])}: Facebook · X · LinkedIn · WhatsApp</div>'
                f'<section class="related-posts"><h3>{e(ui["related"])}</h3><ul>{rel}</ul>'
                f'</section>{comments}')
    elif o.template == "portal":
        cut = max(2, len(paras) // 2)
        body_html = "".join(f"<p>{x}</p>" for x in paras[:cut]) + readalso + ad + \
            "".join(f"<p>{x}</p>" for x in paras[cut:])
        main = (f'<div id="main" class="main-col"><div class="breadcrumb"><a href="/">{e(ui["home"])}'
                f'</a> › <a href="/news/">{e(ui["sections"][0])}</a></div>'
                f'<div class="story-header"><h1>{e(p.title)}</h1><div class="story-meta">'
                f'<span class="author">{e(ui["by"])} {byline_author}</span> · '
                f'<span class="date">{p.published:%d.%m.%Y %H:%M}</span></div></div>'
                f'<div class="story-body"><figure class="lead-image"><img src="/img/lead'
                f'{rng.randrange(10**5)}.jpg" alt=""><figcaption>{e(p.title[:40])} '
                f'(Photo: handout)</figcaption></figure><div class="story-text">{body_html}</div>'
                f'{synd}</div><div class="share-bar">{e(ui["share"])}</div>'
                f'<div class="more-news"><h2>{e(ui["related"])}</h2><ul>{rel}</ul></div></div>'
                f'<div class="rail"><h3>{e(ui["popular"])}</h3><ol>{rel}</ol>{ad}</div>')
    elif o.template == "magazine":
        body_html = "".join(f'<p class="article__paragraph">{x}</p>' for x in paras[:2]) + \
            f'<figure class="article__figure"><img src="/img/m{rng.randrange(10**5)}.jpg" alt="">' \
            f'<figcaption>{e(rng.choice(MODELS))} — press image</figcaption></figure>' + \
            "".join(f'<p class="article__paragraph">{x}</p>' for x in paras[2:])
        main = (f'<main class="article-page"><div class="article__header"><span class="kicker">'
                f'{e(ui["sections"][1])}</span><h1 class="article__title">{e(p.title)}</h1>'
                f'<p class="article__byline">{e(ui["by"])} {byline_author} · '
                f'<time datetime="{when}">{p.published:%B %d, %Y}</time></p></div>'
                f'<div class="article__content" itemprop="articleBody">{body_html}</div>{synd}'
                f'<div class="newsletter-box"><p>{e(ui["newsletter"])}</p><form><input '
                f'type="email"><button>OK</button></form></div>{ad}'
                f'<section class="article__related"><h2>{e(ui["related"])}</h2><ul>{rel}</ul>'
                f'</section>{comments}</main>')
    elif o.template == "cnportal":
        body_html = "".join(f'<p style="text-indent:2em">{x}</p>' for x in paras)
        main = (f'<div class="wrap clearfix"><div class="left-col"><div class="crumbs">'
                f'<a href="/">{e(ui["home"])}</a> &gt; <a href="/news/">{e(ui["sections"][0])}'
                f'</a> &gt; 正文</div><h1 class="main-title">{e(p.title)}</h1><div class="date-source">'
                f'<span class="date">{p.published:%Y年%m月%d日 %H:%M}</span> <span class="source">'
                f'{e(o.name)}</span> <span class="author">{e(ui["by"])}{byline_author}</span></div>'
                f'<div class="article-content" id="artibody">{body_html}</div>{synd}'
                f'<div class="share-box">{e(ui["share"])}：微信 微博 QQ空间</div>{ad}'
                f'<div class="related-box"><h3>{e(ui["related"])}</h3><ul>{rel}</ul></div>'
                f'{comments}</div><div class="right-col"><h3>{e(ui["popular"])}</h3><ol>{rel}</ol>'
                f'</div></div>')
    else:  # brtext: paragraphs separated by <br>, as older CMSs do
        body_html = "<br><br>\n".join(paras)
        main = (f'<div id="content"><table class="layout" width="100%"><tr><td class="main">'
                f'<h1 class="title">{e(p.title)}</h1><div class="info">{p.published:%Y-%m-%d} '
                f'{e(ui["by"])} {byline_author}</div><div class="text">{body_html}</div>{synd}'
                f'</td><td class="side" width="300">{ad}<h3>{e(ui["related"])}</h3><ul>{rel}</ul>'
                f'</td></tr></table></div>')

    head = (f'<!DOCTYPE html><html lang="{lang_attr}"><head><meta charset="{o.charset}">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f'<title>{e(p.title)} - {e(o.name)}</title>'
            f'<meta name="description" content="{e(p.paragraphs[0][:150])}">'
            f'<link rel="canonical" href="{e(p.canonical)}">'
            f'<meta property="og:type" content="article"><meta property="og:title" '
            f'content="{e(p.title)}"><meta property="og:url" content="{e(p.canonical)}">'
            f'<meta property="og:site_name" content="{e(o.name)}">'
            f'<meta property="article:published_time" content="{when}">'
            f'<meta name="author" content="{byline_author}">'
            f'<script type="application/ld+json">'
            + json.dumps({"@context": "https://schema.org", "@type": "NewsArticle",
                          "headline": p.title, "datePublished": when,
                          "author": {"@type": "Person", "name": p.author},
                          "publisher": {"@type": "Organization", "name": o.name}},
                         ensure_ascii=False).replace("</", "<\\/")
            + f'</script><style>{css}</style>'
            f'<script>(function(w,d){{w.dataLayer=w.dataLayer||[];w.dataLayer.push({{"page":'
            f'"article","section":"news","id":{rng.randrange(10**7)}}});}})(window,document);'
            f'</script></head>')
    header = (f'<body class="single"><div class="cookie-banner" id="cookie-consent"><p>'
              f'{e(ui["cookie"])}</p><button>OK</button></div><header class="site-header">'
              f'<div class="logo"><a href="/">{e(o.name)}</a></div><nav class="main-nav"><ul>'
              f'{nav}</ul></nav><nav class="sub-nav"><ul>{sub_nav}</ul></nav></header>'
              f'<div class="ad-leaderboard">{ad}</div>')
    footer = (f'<footer class="site-footer"><div class="newsletter">{e(ui["newsletter"])}</div>'
              f'<ul class="footer-links">{nav}</ul><p class="legal">© {p.published.year} '
              f'{e(o.name)}. {e(ui["footer"])}</p></footer>')
    page = head + header + main + footer
    missing = target - len(page.encode("utf-8"))
    state = _state_blob(rng, max(0, missing - 200), pool) if missing > 400 else ""
    return page + f"<script>{state}</script></body></html>"


# ------------------------------------------------------------------------ feeds


def _rss(o: Outlet, items: list[tuple[str, str, datetime]], rng: random.Random) -> bytes:
    entries = []
    for url, title, when in items:
        link = url
        if rng.random() < 0.25:
            link = f"{url}?utm_source=rss&utm_medium=feed&utm_campaign=news"
        entry = (f"<item><title>{escape(title)}</title><link>{escape(link)}</link>"
                 f"<guid isPermaLink=\"false\">{escape(url)}</guid>"
                 f"<pubDate>{format_datetime(when)}</pubDate></item>")
        entries.append(entry)
        if rng.random() < 0.05:  # the same link announced twice, once with tracking params
            entries.append(entry.replace(escape(link),
                                         escape(url + "?ref=homepage&utm_medium=social")))
    text = ("<?xml version=\"1.0\" encoding=\"utf-8\"?><rss version=\"2.0\"><channel>"
            f"<title>{escape(o.name)}</title><link>{o.base}/</link>"
            f"<description>{escape(o.name)}</description><language>{o.lang}</language>"
            + "".join(entries) + "</channel></rss>")
    return text.encode("utf-8")


def _sitemap(o: Outlet, items: list[tuple[str, str, datetime]]) -> bytes:
    urls = "".join(
        f"<url><loc>{escape(url)}</loc><lastmod>{when.isoformat()}</lastmod><news:news>"
        f"<news:publication><news:name>{escape(o.name)}</news:name><news:language>{o.lang}"
        f"</news:language></news:publication><news:publication_date>{when.isoformat()}"
        f"</news:publication_date><news:title>{escape(title)}</news:title></news:news></url>"
        for url, title, when in items)
    return ("<?xml version=\"1.0\" encoding=\"utf-8\"?><urlset xmlns=\"http://www.sitemaps.org/"
            "schemas/sitemap/0.9\" xmlns:news=\"http://www.google.com/schemas/sitemap-news/0.9\">"
            + urls + "</urlset>").encode("utf-8")


# ------------------------------------------------------------------------ building


def pick_port(n_hosts: int, preferred: int = DEFAULT_PORT) -> int:
    """A port free on every 127.0.0.x address we need (the preferred one if possible)."""
    for port in [preferred, *range(preferred + 1, preferred + 40)]:
        sockets = []
        try:
            for i in range(n_hosts):
                s = socket.socket()
                s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                sockets.append(s)
                s.bind((f"127.0.0.{i + 2}", port))
            return port
        except OSError:
            continue
        finally:
            for s in sockets:
                s.close()
    raise RuntimeError("no port free on all of 127.0.0.2…: is 127.0.0.0/8 loopback available?")


def build_web(outlets: int = 50, per_outlet: int = 40, *, seed: int = SEED,
              port: int | None = None) -> NewsWeb:
    """The whole web, deterministically: the same arguments give the same bytes."""
    if outlets > 250:
        raise ValueError("at most 250 outlets (127.0.0.2 … 127.0.0.251)")
    port = port or pick_port(outlets)
    plan = [LANG_PLAN[i * len(LANG_PLAN) // outlets] for i in range(outlets)] \
        if outlets < len(LANG_PLAN) else [LANG_PLAN[i % len(LANG_PLAN)] for i in range(outlets)]
    counters = {"en": 0, "it": 0, "zh": 0}
    gbk_done = 0
    outs: list[Outlet] = []
    for i, lang in enumerate(plan):
        name = OUTLET_NAMES[lang][counters[lang] % len(OUTLET_NAMES[lang])]
        counters[lang] += 1
        slug = f"o{i + 1:02d}"
        latin = ("classic", "portal", "magazine", "brtext")
        template = (latin[i % 4] if lang != "zh" else
                    "cnportal" if i % 3 != 2 else ("portal", "magazine")[i % 2])
        outlet = Outlet(index=i, name=name, slug=slug, lang=lang, host=f"127.0.0.{i + 2}",
                        port=port, template=template, kind="feed" if i % 2 == 0 else "sitemap")
        if lang == "zh" and gbk_done < 3 and counters["zh"] % 4 == 2:
            outlet.charset = "gbk"
            outlet.charset_in_header = gbk_done != 2
            gbk_done += 1
        outs.append(outlet)

    # Article texts and URLs first (teasers and syndication need them all).
    plans: list[list[dict[str, object]]] = []
    for o in outs:
        arng = random.Random(f"{seed}:{o.slug}")
        items: list[dict[str, object]] = []
        for k in range(per_outlet):
            when = BASE_DATE - timedelta(hours=arng.randrange(0, 24 * 30),
                                         minutes=arng.randrange(60))
            items.append({"k": k, "when": when, "rng": random.Random(f"{seed}:{o.slug}:{k}")})
        plans.append(items)
    texts: dict[tuple[int, int], tuple[str, list[str]]] = {}
    urls: dict[tuple[int, int], str] = {}
    for o, items in zip(outs, plans, strict=True):
        for item in items:
            k = int(item["k"])  # type: ignore[call-overload]
            title, paras = make_article_text(item["rng"], o.lang)  # type: ignore[arg-type]
            texts[(o.index, k)] = (title, paras)
            when: datetime = item["when"]  # type: ignore[assignment]
            words = "".join(ch if ch.isalnum() and ch.isascii() else "-"
                            for ch in title.lower())[:60].strip("-")
            slug = "-".join(w for w in words.split("-") if w) or f"articolo-{k}"
            if o.lang == "zh":
                slug = f"{when:%Y%m%d}{o.index:02d}{k:04d}"
            urls[(o.index, k)] = f"{o.base}/news/{when:%Y/%m/%d}/{slug}-{k}.html"

    # Duplicates: slots 0/1 syndicated from other outlets of the language; slot 2 AMP copy.
    by_lang: dict[str, list[Outlet]] = {}
    for o in outs:
        by_lang.setdefault(o.lang, []).append(o)
    source_of: dict[tuple[int, int], tuple[int, int]] = {}
    for o in outs:
        peers = [p for p in by_lang[o.lang] if p.index != o.index]
        if peers and per_outlet >= 8:
            for slot in (0, 1):
                p = peers[(o.index * 7 + slot * 3) % len(peers)]
                first = min(10, per_outlet // 2)  # copy an original, never a copy
                source_of[(o.index, slot)] = (p.index, first + (o.index + slot)
                                              % (per_outlet - first))
        if o.index % 2 == 0 and per_outlet >= 8:
            source_of[(o.index, 2)] = (o.index, 5)
    truth: dict[str, Truth] = {}
    pages: dict[str, bytes] = {}
    for o, items in zip(outs, plans, strict=True):
        prng = random.Random(f"{seed}:{o.slug}:pages")
        css = _css(prng, prng.randrange(6_000, 45_000))
        teasers = [(urls[(o.index, k)], texts[(o.index, k)][0]) for k in range(per_outlet)]
        pool = teaser_pool(prng, teasers)
        feed_items = []
        for item in items:
            k = int(item["k"])  # type: ignore[call-overload]
            when = item["when"]  # type: ignore[assignment]
            url = urls[(o.index, k)]
            title, paras = texts[(o.index, k)]
            canonical, synd_from, dup = url, None, None
            if (o.index, k) in source_of:
                si, sk = source_of[(o.index, k)]
                title, paras = texts[(si, sk)]
                dup = urls[(si, sk)]
                canonical = dup
                if si != o.index:
                    synd_from = outs[si].name
                    when = plans[si][sk]["when"] + timedelta(hours=3)  # type: ignore[operator]
                else:  # the AMP copy of one of our own articles
                    url = f"{o.base}/amp/{url.rsplit('/', 1)[1]}"
                    when = plans[si][sk]["when"]  # type: ignore[assignment]
            author = prng.choice(PERSONS)[1 if o.lang == "zh" else 0] if prng.random() < 0.2 \
                else (prng.choice(["张伟", "王芳", "李娜", "刘洋", "陈静"]) if o.lang == "zh" else
                      prng.choice(["Marco Rossi", "Giulia Bianchi", "Luca Ferrari", "Sara Romano"])
                      if o.lang == "it" else
                      prng.choice(["Jane Chen", "Tom Baker", "Mark Liu", "Anna Schmidt", "Ravi Patel"]))
            parts = PageParts(outlet=o, url=url, path=url[len(o.base):], title=title,
                              paragraphs=paras, published=when, author=author,
                              canonical=canonical, syndicated_from=synd_from)
            target = prng.randrange(30_000, 142_000)
            html = render(parts, prng, css, teasers, pool, target)
            data = html.encode(o.charset, errors="xmlcharrefreplace")
            ctype = "text/html; charset=" + o.charset if o.charset_in_header else "text/html"
            o.routes[parts.path] = (data, ctype, when)
            pages[url] = data
            truth[url] = Truth(url=url, outlet=o.name, lang=o.lang, title=title,
                               body="\n".join(paras), published=when.isoformat(),
                               duplicate_of=dup)
            feed_items.append((url, title, when))
        feed_items.sort(key=lambda x: x[2], reverse=True)
        newest = feed_items[0][2] if feed_items else BASE_DATE
        o.routes["/feed.xml"] = (_rss(o, feed_items, prng), "application/rss+xml; charset=utf-8",
                                 newest)
        o.routes["/sitemap.xml"] = (_sitemap(o, feed_items), "application/xml; charset=utf-8",
                                    newest)
        o.routes["/robots.txt"] = (b"User-agent: *\nDisallow: /private/\nDisallow: /ads/\n"
                                   b"Sitemap: " + o.sitemap_url.encode() + b"\n",
                                   "text/plain; charset=utf-8", None)
        home = "".join(f'<li><a href="{escape(u)}">{escape(t)}</a></li>' for u, t, _ in feed_items)
        o.routes["/"] = ((f'<!DOCTYPE html><html lang="{o.lang}"><head><meta charset="utf-8">'
                          f'<title>{escape(o.name)}</title></head><body><h1>{escape(o.name)}</h1>'
                          f'<ul>{home}</ul></body></html>').encode(),
                         "text/html; charset=utf-8", newest)
    return NewsWeb(outlets=outs, truth=truth, pages=pages, seed=seed)


# ------------------------------------------------------------------------ serving


@contextmanager
def serve(web: NewsWeb) -> Iterator[list[object]]:
    """Start one SiteServer per outlet on its own address; yields the servers."""
    from pipeline.demo.server import Resource, SiteServer

    with ExitStack() as stack:
        servers = []
        for o in web.outlets:
            routes = {path: Resource(body, ctype, last_modified=when)
                      for path, (body, ctype, when) in o.routes.items()}
            server = SiteServer(routes, host=o.host, port=o.port)
            stack.enter_context(server)
            servers.append(server)
        yield servers


def request_stats(servers: list[object], since: int | list[int] = 0) -> dict[str, int]:
    """Requests the servers received (after the first `since` of each): total, by status,
    and how many were conditional (If-None-Match / If-Modified-Since)."""
    marks = since if isinstance(since, list) else [since] * len(servers)
    stats = {"requests": 0, "conditional": 0, "304": 0, "200": 0, "other": 0}
    for server, mark in zip(servers, marks, strict=True):
        for r in list(server.requests)[mark:]:  # type: ignore[attr-defined]
            stats["requests"] += 1
            if "if-none-match" in r.headers or "if-modified-since" in r.headers:
                stats["conditional"] += 1
            key = str(r.status) if r.status in (200, 304) else "other"
            stats[key] += 1
    return stats


def request_marks(servers: list[object]) -> list[int]:
    return [len(server.requests) for server in servers]  # type: ignore[attr-defined]


def pages_digest(web: NewsWeb) -> str:
    """One hash of every page served, to check two processes built the very same bytes."""
    import hashlib
    digest = hashlib.sha1()
    for url, data in web.pages.items():
        digest.update(url.encode())
        digest.update(data)
    return digest.hexdigest()


def serve_forever(outlets: int, per_outlet: int, port: int | None, seed: int) -> None:
    """The server side of `WebProcess`: build, serve, answer commands on stdin.

    One JSON line on stdout when ready ({"port", "digest", "pid"}); then, per line read:
    `marks` → the request count of every server; `stats [marks]` → `request_stats`; EOF or
    `quit` → stop."""
    import sys

    web = build_web(outlets, per_outlet, seed=seed, port=port)
    with serve(web) as servers:
        print(json.dumps({"port": web.outlets[0].port, "digest": pages_digest(web)}),
              flush=True)
        for line in sys.stdin:
            command, _, arg = line.strip().partition(" ")
            if command == "marks":
                print(json.dumps(request_marks(servers)), flush=True)
            elif command == "stats":
                print(json.dumps(request_stats(servers, json.loads(arg) if arg else 0)),
                      flush=True)
            elif command == "quit":
                break
            else:
                print(json.dumps({"error": f"unknown command {command!r}"}), flush=True)


class WebProcess:
    """The generated web served by a process of its own, so its CPU is not the measured
    programs' and the parent's: `with WebProcess(50, 40) as web: web.marks() …`.

    The parent builds the same web (deterministic) for its configuration and ground truth;
    `digest` lets it check that both built the very same bytes."""

    def __init__(self, outlets: int, per_outlet: int, *, port: int | None = None,
                 seed: int = SEED) -> None:
        self.args = [str(outlets), str(per_outlet), str(port or 0), str(seed)]
        self.outlets, self.per_outlet, self.seed = outlets, per_outlet, seed
        self.proc: Any = None
        self.port = 0
        self.digest = ""

    def __enter__(self) -> Self:
        import subprocess
        import sys
        from pathlib import Path
        root = Path(__file__).resolve().parents[1]
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bench.newsweb", "serve", *self.args], cwd=root,
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, start_new_session=True)
        ready = self._read()
        self.port, self.digest = int(ready["port"]), str(ready["digest"])
        return self

    def local_copy(self) -> NewsWeb:
        """The same web built in this process, on the served ports (the configuration and
        the ground truth come from it), checked to be byte for byte what is served."""
        local = build_web(self.outlets, self.per_outlet, seed=self.seed, port=self.port)
        if pages_digest(local) != self.digest:
            raise RuntimeError("the server process built other pages than this one")
        return local

    def _read(self) -> Any:
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"the web server process exited (code {self.proc.wait()})")
        return json.loads(line)

    def _ask(self, command: str) -> Any:
        self.proc.stdin.write(command + "\n")
        self.proc.stdin.flush()
        return self._read()

    def marks(self) -> list[int]:
        marks: list[int] = self._ask("marks")
        return marks

    def stats(self, since: list[int] | int = 0) -> dict[str, int]:
        stats: dict[str, int] = self._ask(f"stats {json.dumps(since)}")
        return stats

    @property
    def pid(self) -> int:
        return int(self.proc.pid)

    def __exit__(self, *exc: object) -> None:
        try:
            self.proc.stdin.close()
            self.proc.wait(timeout=30)
        except Exception:  # noqa: BLE001 - a server that will not stop is killed
            self.proc.kill()
            self.proc.wait()


if __name__ == "__main__":
    import sys
    import time

    if sys.argv[1:2] == ["serve"]:  # python -m bench.newsweb serve OUTLETS PER_OUTLET PORT SEED
        o, p, port_arg, seed_arg = (int(x) for x in sys.argv[2:6])
        serve_forever(o, p, port_arg or None, seed_arg)
        sys.exit(0)
    t0 = time.perf_counter()  # a look at what is generated
    w = build_web(int(sys.argv[1]) if len(sys.argv) > 1 else 50)
    print(f"built in {time.perf_counter() - t0:.2f} s:", json.dumps(w.summary()))
